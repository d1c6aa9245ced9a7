"""Column-name normalisation is stable, valid and documented."""

from __future__ import annotations

import re

import pytest
from requirements import requires

from monitor.backends.mssql import MssqlBackend
from monitor.backends.names import table_name_problem
from monitor.demo.companies_house import COMPANIES_HOUSE_HEADER
from monitor.demo.enrichment import ENRICHMENT_HEADER
from monitor.load.read.naming import NameRules, normalise_header, normalise_name


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


# -- each database's own names and limits, met by the normalisation ------------------------
GIS = ["id", "xmin", "ymin", "xmax", "ymax"]
SYSTEM = ["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "oid"]
LONG = ["an extremely long column name that keeps going on and on for ever more"] * 150


def test_names_a_database_keeps_for_itself_get_a_prefix():
    rules = NameRules(63, frozenset(SYSTEM))
    assert normalise_header(GIS, rules) == ["id", "c_xmin", "ymin", "c_xmax", "ymax"]
    assert normalise_header(["XMin", "x min", "CTID"], rules) == ["x_min", "x_min_2", "c_ctid"]
    assert normalise_header(GIS) == GIS  # where nothing is reserved, nothing changes


def test_repeated_long_names_stay_unique_within_the_identifier_length():
    names = normalise_header(LONG, NameRules(63))
    assert len(set(names)) == 150 and max(map(len, names)) == 63
    assert names[99].endswith("_100") and len(names[99]) == 63  # cut, where PostgreSQL would cut it into _10
    assert len(set(normalise_header([*LONG, "k", "k", "k_2", "K 2"], NameRules(5)))) == 154


def test_the_declared_names_and_limits_are_the_databases_own(backend):
    """Tables made with the normalised names keep every name as made (nothing cut, none
    refused), and the declared column limit is where the database refuses another column."""
    rules = NameRules.of(backend)
    with backend.transaction() as conn:
        for index, header in enumerate([GIS, SYSTEM, LONG]):
            names = normalise_header(header, rules)
            backend.create_table(conn, None, f"names_{index}", names)
            assert backend.columns_of(conn, None, f"names_{index}") == [*names, "_load_id"]
        widest = [f"c{i}" for i in range(backend.max_columns - 1)]
        backend.create_table(conn, None, "widest", widest)
        babelfish = isinstance(backend, MssqlBackend) and backend.is_babelfish(conn)
    if babelfish:  # SQL Server's limits are declared; Babelfish's own lie where PostgreSQL's do
        return
    with pytest.raises(Exception, match=r"(?i)column"), backend.transaction() as conn:  # the driver's own error
        backend.create_table(conn, None, "too_wide", [*widest, "one_more"])
    if backend.max_identifier_bytes is not None:  # one byte longer is cut (PostgreSQL) or refused (SQL Server)
        longer = "n" * (backend.max_identifier_bytes + 1)
        try:
            with backend.transaction() as conn:
                conn.exec_driver_sql(f"CREATE TABLE {backend.quote(longer)} (x INT)")
                kept = set(backend.tables_in(conn, backend.default_schema))
        except Exception:  # the driver's own error class
            kept = set()
        assert longer not in kept and (not kept or longer[:-1] in kept)


def test_postgresql_refuses_the_system_names_that_are_renamed(backend):
    requires(backend, "reserved_column_names_refused")
    for name in sorted(backend.reserved_column_names - {"oid"}):  # oid is a system column before PostgreSQL 12
        with pytest.raises(Exception, match="conflicts with a system column name"), backend.transaction() as conn:
            backend.create_table(conn, None, "system_names", [name])


def test_a_table_name_too_long_for_the_names_a_load_makes_is_said_before_loading(backend):
    table = "companies_house_basic_company_data_monthly_snapshot_full"
    problem = table_name_problem(backend, table, 42, staged=True)
    if backend.max_identifier_bytes is None or backend.max_identifier_bytes >= len(table) + 20:
        assert problem is None
    else:
        assert f"{table}__stg_42" in problem and f"allows {backend.max_identifier_bytes}" in problem
        side = len(f"{backend.side_table_mark}42") if backend.side_table_mark else 0  # SQL Server's bulk side table
        fits = table[: backend.max_identifier_bytes - side]
        assert table_name_problem(backend, fits, 42, staged=False) is None  # an append makes no staging table
        if side:  # one byte more and the side table's name is too long
            assert "__bulk_42" in (table_name_problem(backend, fits + "x", 42, staged=False) or "")
