"""Column-name normalisation is stable, valid and documented."""

from __future__ import annotations

import re

import pytest

from monitor.demo.companies_house import COMPANIES_HOUSE_HEADER
from monitor.demo.enrichment import ENRICHMENT_HEADER
from monitor.load.naming import normalise_header, normalise_name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (" CompanyNumber", "company_number"),
        (" RegAddress.PostTown", "reg_address_post_town"),
        ("SICCode.SicText_1", "sic_code_sic_text_1"),
        ("PreviousName_10.CONDATE", "previous_name_10_condate"),
        ("# Employees", "num_employees"),
        ("Person Linkedin Url", "person_linkedin_url"),
        ("URI", "uri"),
        ("Société Générale", "societe_generale"),
        ("\ufeffFirst Name", "first_name"),
        ("2023 Revenue", "c_2023_revenue"),
        ("x]; DROP TABLE ref.companies;--", "x_drop_table_ref_companies"),
        ("", "column_7"),
    ],
)
def test_names(header, expected):
    assert normalise_name(header, 7) == expected


def test_duplicates_get_suffixes_in_order():
    assert normalise_header(["Email", "email", "E-mail", "EMAIL"]) == ["email", "email_2", "e_mail", "email_3"]


def test_long_names_are_cut_with_a_stable_hash():
    long = "A very long column name " * 10
    name = normalise_name(long, 1)
    assert len(name) <= 60 and name == normalise_name(long, 1)
    assert name != normalise_name(long + "x", 1)


@pytest.mark.parametrize("header", [COMPANIES_HOUSE_HEADER, ENRICHMENT_HEADER])
def test_real_headers_become_unique_valid_identifiers(header):
    names = normalise_header(header)
    assert len(set(names)) == len(header)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)
