"""Declared column types: conversion, null tokens, empty keys, header checks and their config."""

from __future__ import annotations

import json

import pytest

from monitor.config import ConfigError, FolderRule, load_settings
from monitor.load.read.column_types import (
    ColumnSpec,
    RowPlan,
    match_column,
    resolve_specs,
    to_boolean,
    to_date,
    to_datetime,
    to_decimal,
    to_integer,
)
from monitor.load.read.policies import PolicyError, RejectPolicy, check_header
from monitor.load.read.records import Reject, RowError


@pytest.mark.parametrize(("text", "value"), [
    ("1200", "1200"), ("1,200", "1200"), (" -1,234,567 ", "-1234567"), ("+7", "7"), ("12.0", "12"),
    ("007", "7"), ("9223372036854775807", "9223372036854775807"),
])
def test_integers(text, value):
    assert to_integer(text) == value


@pytest.mark.parametrize("text", ["12a", "1,20", "1.5", "", "1,2345", "99999999999999999999", "1e3"])
def test_not_integers(text):
    with pytest.raises(ValueError):
        to_integer(text)


@pytest.mark.parametrize(("text", "value"), [
    ("1,200.50", "1200.50"), ("-0.5", "-0.5"), (".25", "0.25"), ("1e3", "1000"), ("3,000,000", "3000000"),
])
def test_decimals(text, value):
    assert to_decimal(text) == value


@pytest.mark.parametrize("text", ["1.2.3", "NaN", "inf", "1,20.5", "abc", "."])
def test_not_decimals(text):
    with pytest.raises(ValueError):
        to_decimal(text)


def test_dates_datetimes_and_booleans():
    assert to_date("01/02/2024", "%d/%m/%Y") == "2024-02-01"
    assert to_date("2024-02-29") == "2024-02-29"
    with pytest.raises(ValueError):
        to_date("31/02/2024", "%d/%m/%Y")
    assert to_datetime("2024-01-02T03:04:05Z") == "2024-01-02 03:04:05"
    assert to_datetime("2024-01-02T05:04:05+02:00") == "2024-01-02 03:04:05"
    assert to_datetime("02/01/2024 03:04", "%d/%m/%Y %H:%M") == "2024-01-02 03:04:00"
    assert [to_boolean(v) for v in ("Yes", "n", "TRUE", "0", "on")] == ["1", "0", "1", "0", "1"]
    with pytest.raises(ValueError):
        to_boolean("maybe")


def test_a_row_plan_converts_typed_columns_only_and_names_the_bad_column():
    columns = ["email", "phone", "employees", "joined"]
    specs = {"employees": ColumnSpec.model_validate("integer"),
             "joined": ColumnSpec.model_validate({"type": "date", "format": "%d/%m/%Y"})}
    plan = RowPlan(columns, specs, ["email"], ["", "N/A", "-"])
    assert plan(["a@x.io", "007", "1,200", "01/02/2024"]) == ["a@x.io", "007", "1200", "2024-02-01"]
    assert plan(["a@x.io", "N/A", "N/A", "-"]) == ["a@x.io", "N/A", None, None]
    with pytest.raises(RowError) as bad:
        plan(["a@x.io", "1", "many", ""])
    assert (bad.value.column, bad.value.reason) == ("employees", "column employees: 'many' is not a valid integer")
    with pytest.raises(RowError) as empty:
        plan(["N/A", "1", "2", ""])
    assert empty.value.column == "email" and "empty key" in empty.value.reason
    kept = RowPlan(columns, specs, [], [""], keep=[0, 2])
    assert kept(["a@x.io", "1", "5", "x"]) == ["a@x.io", "5"]
    assert not RowPlan(columns, {}, [], [""]).needed


def test_specs_match_a_column_by_name_raw_header_or_spelling():
    header, columns = ["E-mail", "# Employees", "Joined On"], ["e_mail", "num_employees", "joined_on"]
    assert match_column("e_mail", header, columns) == "e_mail"
    assert match_column("# Employees", header, columns) == "num_employees"
    assert match_column("Joined On", header, columns) == "joined_on"
    assert match_column("JoinedOn", header, columns) == "joined_on"
    assert match_column("missing", header, columns) is None
    specs = resolve_specs(header, columns, {"# Employees": ColumnSpec(type="integer"), "absent": ColumnSpec()})
    assert list(specs) == ["num_employees"]


def rule(**values) -> FolderRule:
    return FolderRule.model_validate({"path": "in", "table": "t", **values})


def test_header_checks_name_the_file_and_the_columns():
    header, columns = ["Email", "Phone", "phone"], ["email", "phone", "phone_2"]
    plan = check_header("f.csv", header, columns, rule(), None, "main.t")
    assert plan.warnings == [
        "duplicate column names: 'Phone' (column 2) and 'phone' (column 3) loaded as phone, phone_2"]
    with pytest.raises(PolicyError, match=r"f.csv: duplicate column names: 'Phone' .* would load as phone, phone_2"):
        check_header("f.csv", header, columns, rule(duplicate_columns="fail"), None, "main.t")
    with pytest.raises(PolicyError, match=r"f.csv: missing required columns: company_number, name"):
        check_header("f.csv", header, columns, rule(required_columns=["company_number", "email"],
                                                    key_columns=["name"]), None, "main.t")
    with pytest.raises(PolicyError, match=r"f.csv: new columns not in main.t: phone, phone_2"):
        check_header("f.csv", header, columns, rule(new_columns="fail"), ["email"], "main.t")
    ignored = check_header("f.csv", header, columns, rule(new_columns="ignore"), ["email", "x"], "main.t")
    assert (ignored.columns, ignored.keep) == (["email"], [0])
    assert check_header("f.csv", header, columns, rule(), ["email"], "main.t").keep is None


def test_reject_policies():
    first = Reject(7, None, "expected 2 fields, found 1", "x")
    RejectPolicy(rule(), "f.csv", "main.t").check(100, first)
    with pytest.raises(PolicyError, match=r"f.csv: line 7: expected 2 fields, found 1 .on_error is abort"):
        RejectPolicy(rule(on_error="abort"), "f.csv", "main.t").check(1, first)
    skip = RejectPolicy(rule(on_error="skip_file", max_rejects=2), "f.csv", "main.t")
    skip.check(2, first)
    with pytest.raises(PolicyError, match=r"more than 2 rows rejected"):
        skip.check(3, first)
    with pytest.raises(PolicyError, match=r"more than 0 rows rejected"):
        RejectPolicy(rule(on_error="skip_file"), "f.csv", "main.t").check(1, first)
    percent = RejectPolicy(rule(on_error="skip_file", max_reject_percent=10), "f.csv", "main.t")
    percent.check(50, first)
    percent.finish(90, 10, first)
    with pytest.raises(PolicyError, match=r"11 of 100 rows rejected \(11.0%"):
        percent.finish(89, 11, first)
    full = RejectPolicy(rule(mode="fullload"), "f.csv", "ref.t")
    with pytest.raises(PolicyError, match=r"refusing to replace ref.t with an empty table: the file has no data"):
        full.finish(0, 0, None)
    with pytest.raises(PolicyError, match=r"all 3 rows were rejected"):
        full.finish(0, 3, first)
    RejectPolicy(rule(), "f.csv", "main.t").finish(0, 0, None)  # an empty append is fine


def test_the_config_validates_types_and_policies(tmp_path):
    path = tmp_path / "monitor.json"
    folder = {"path": "in", "table": "t", "columns": {"n": "integer", "d": {"type": "date", "format": "%d/%m/%Y"}},
              "on_error": "skip_file", "max_reject_percent": 5}
    path.write_text(json.dumps({"folders": [folder]}))
    loaded = load_settings(path).folders[0]
    assert loaded.columns["n"].type == "integer" and loaded.columns["d"].format == "%d/%m/%Y"
    for bad, key in ((dict(folder, columns={"n": "money"}), "folders.0.columns.n"),
                     (dict(folder, on_error="ignore"), "folders.0.on_error"),
                     (dict(folder, encoding="klingon"), "folders.0.encoding")):
        path.write_text(json.dumps({"folders": [bad]}))
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(path)
