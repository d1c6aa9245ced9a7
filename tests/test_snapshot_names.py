"""What a file's name says, in-process: a part of a snapshot set (the Companies House form and
a rule's own regular expression), the snapshot's date, the shape guard, which rule a file
given by name belongs to, and which patterns overlap."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from monitor.config import FolderRule, Settings
from monitor.intake.patterns import patterns_overlap
from monitor.intake.rules import NoRule, RuleBook
from monitor.load.read.shape import ShapeError, check_shape
from monitor.load.read.snapshots import PartName, part_of, snapshot_date


def rule(**changes) -> FolderRule:
    return FolderRule.model_validate({"path": "in/companies", "table": "companies", "mode": "fullload", **changes})


@pytest.mark.parametrize(("name", "expected"), [
    ("BasicCompanyData-2026-11-01-part1_7.zip", PartName("BasicCompanyData-2026-11-01", 1, 7)),
    ("BasicCompanyData-2026-11-01-part7_7.csv", PartName("BasicCompanyData-2026-11-01", 7, 7)),
    ("BasicCompanyData-2026-11-01-part12_12", PartName("BasicCompanyData-2026-11-01", 12, 12)),
    ("x.zip!BasicCompanyData-2026-11-01-part3_7.csv", PartName("x.zip!BasicCompanyData-2026-11-01", 3, 7)),
    ("BasicCompanyDataAsOneFile-2026-11-01.zip", None),
    ("BasicCompanyData-2026-11-01-part1_7x.zip", None),
    ("report-part-one.csv", None),
])
def test_the_companies_house_part_names(name, expected):
    assert part_of(rule(), name) == expected


def test_a_rule_names_its_parts_its_own_way_or_not_at_all():
    custom = rule(part_pattern=r"^(?P<set>sales_\d{8})_(?P<part>\d+)of(?P<count>\d+)\.csv$")
    assert part_of(custom, "sales_20261101_2of3.csv") == PartName("sales_20261101", 2, 3)
    assert part_of(custom, "BasicCompanyData-2026-11-01-part1_7.zip") is None
    assert part_of(rule(part_pattern=None), "BasicCompanyData-2026-11-01-part1_7.zip") is None
    assert part_of(rule(mode="append"), "BasicCompanyData-2026-11-01-part1_7.zip") is None


def test_numbers_that_cannot_be_a_part_say_so():
    assert PartName("s", 8, 7).problem == "its name says part 8 of 7"
    assert PartName("s", 0, 7).problem == "its name says part 0 of 7"
    assert PartName("s", 1, 1).problem is None
    assert str(PartName("s", 3, 7)) == "part 3 of 7"


@pytest.mark.parametrize("pattern", [r"(?P<set>.+)-(?P<part>\d+)", r"(unclosed", r"(?P<set>.+)_(?P<count>\d+)"])
def test_a_part_pattern_without_its_groups_is_a_config_error(pattern):
    with pytest.raises(ValueError, match="part_pattern"):
        rule(part_pattern=pattern)


@pytest.mark.parametrize(("name", "expected"), [
    ("BasicCompanyDataAsOneFile-2026-11-01.zip", date(2026, 11, 1)),
    ("BasicCompanyData-2026-09-01-part3_7.zip", date(2026, 9, 1)),
    ("BasicCompanyData-2026-13-45-then-2026-02-03.csv", date(2026, 2, 3)),  # the first valid date
    ("BasicCompanyData.csv", None),
    ("BasicCompanyData-2026-02-30.csv", None),
])
def test_the_snapshot_date_in_a_name(name, expected):
    assert snapshot_date(rule(), name) == expected


def test_a_rule_reads_its_own_date_form():
    compact = rule(date_pattern=r"_(?P<date>\d{8})", date_format="%Y%m%d")
    assert snapshot_date(compact, "sales_20261101_2of3.csv") == date(2026, 11, 1)
    assert snapshot_date(compact, "BasicCompanyData-2026-11-01.csv") is None
    whole_match = rule(date_pattern=r"\d{2}\.\d{2}\.\d{4}", date_format="%d.%m.%Y")
    assert snapshot_date(whole_match, "export 01.11.2026.csv") == date(2026, 11, 1)
    assert snapshot_date(rule(date_pattern=None), "BasicCompanyData-2026-11-01.csv") is None
    assert snapshot_date(rule(mode="append"), "BasicCompanyData-2026-11-01.csv") is None


def test_the_shape_guard():
    table = ["company_name", "company_number", "town", "_load_id"]
    assert check_shape("f.csv", ["company_name", "company_number", "town"], table, rule(), "ref.companies") == []
    warnings = check_shape("f.csv", ["company_name", "company_number", "status"], table, rule(), "ref.companies")
    assert warnings == ["new columns (not in the ref.companies it replaces): status",
                        "dropped columns (in the ref.companies it replaces, not in the file): town"]
    with pytest.raises(ShapeError) as refused:
        check_shape("contacts.csv", ["email", "company_name"], table, rule(), "ref.companies")
    message = str(refused.value)
    assert "shares 1 of the 3 columns of ref.companies" in message
    assert "The file's columns: email, company_name." in message
    assert "The table's columns: company_name, company_number, town" in message
    assert check_shape("contacts.csv", ["email"], table, rule(allow_new_shape=True), "ref.companies") == [
        "new columns (not in the ref.companies it replaces): email",
        "dropped columns (in the ref.companies it replaces, not in the file): company_name, company_number, town"]
    assert check_shape("contacts.csv", ["email"], table, rule(min_shared_columns=0), "ref.companies")
    assert check_shape("contacts.csv", ["email"], None, rule(), "ref.companies") == []
    assert check_shape("contacts.csv", ["email"], table, rule(mode="append"), "ref.companies") == []


def book(tmp_path: Path, *rules: dict) -> RuleBook:
    folders = [{"mode": "append", **r, "path": str(tmp_path / r["path"])} for r in rules]
    return RuleBook(Settings.model_validate({"folders": folders}))


def test_a_file_given_by_name_is_never_put_in_a_table_by_a_guess(tmp_path):
    rules = book(tmp_path, {"path": "in/companies", "pattern": "BasicCompanyData*", "table": "companies",
                            "mode": "fullload"},
                 {"path": "in/contacts", "pattern": "*.csv", "table": "contacts"},
                 {"path": "in/leads", "pattern": "*.csv", "table": "contacts", "name": "leads"})
    outside = tmp_path / "exports" / "BasicCompanyData-x.csv"
    with pytest.raises(NoRule) as refused:
        rules.for_file(outside)
    assert "3 rules match its name" in str(refused.value)
    assert all(label in str(refused.value) for label in ("companies (folder", "contacts (folder", "leads (folder"))
    assert rules.for_file(tmp_path / "in" / "contacts" / "BasicCompanyData-x.csv").table == "contacts"  # its folder's
    assert rules.for_file(tmp_path / "exports" / "other.zip", "companies").table == "companies"
    assert rules.for_file(outside, "leads").path == tmp_path / "in" / "leads"
    assert rules.for_file(outside, "contacts").path == tmp_path / "in" / "contacts"  # the unnamed one
    with pytest.raises(NoRule, match="no rule of that name"):
        rules.for_file(outside, "nothing")
    with pytest.raises(NoRule, match="no folder rule matches"):
        rules.for_file(tmp_path / "exports" / "notes.txt")


def test_rule_names_are_unique_and_one_table_of_two_unnamed_rules_is_ambiguous(tmp_path):
    with pytest.raises(ValueError, match="rule names must be unique: x"):
        book(tmp_path, {"path": "a", "table": "t", "name": "x"}, {"path": "b", "table": "u", "name": "x"})
    twice = book(tmp_path, {"path": "a", "table": "t"}, {"path": "b", "table": "t"})
    with pytest.raises(NoRule, match="2 rules load into t"):
        twice.named("t")


@pytest.mark.parametrize(("first", "second", "overlap"), [
    ("*.csv", "BasicCompanyData*", True), ("*.csv", "*.zip", False), ("crm-*.csv", "*.csv", True),
    ("a?c.csv", "abc.csv", True), ("[ab]*", "c*", False), ("[!a]*", "a*", False), ("[!a]*", "b*", True),
    ("data[0-9].csv", "data5.csv", True), ("data[0-9].csv", "datax.csv", False),
    ("BasicCompanyData*", "contacts-*.csv", False), ("*-part*_7.zip", "BasicCompanyData-*.zip", True),
])
def test_which_patterns_can_match_the_same_name(first, second, overlap):
    assert patterns_overlap(first, second) is overlap
    assert patterns_overlap(second, first) is overlap
