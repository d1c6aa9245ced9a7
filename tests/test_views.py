"""The operator views and the shipped audit queries, run for real on SQLite and PostgreSQL
against a database the real CLI loaded (fullload, append with a reject, duplicate, failure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import COMPANIES, CONTACTS, engine_for, write_csv
from requirements import backend_of

from monitor.backends.views import VIEW_NAMES
from monitor.demo.companies_house import write_companies_house

SQL = Path(__file__).resolve().parent.parent / "sql"
HEADER = ["First Name", "Last Name", "# Employees", " Company.Name"]


def named_queries(path: Path) -> dict[str, str]:
    """The `-- name: x` queries of an audit_queries.sql file."""
    out = {}
    for block in re.split(r"^-- name: ", path.read_text(), flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = re.sub(r"^GO$", "", body, flags=re.MULTILINE).strip().rstrip(";")
    return out


@pytest.fixture
def loaded(make_workspace, tmp_path):
    """A workspace with one of each outcome: fullload, append with a reject, duplicate, failure."""
    ws = make_workspace(COMPANIES, CONTACTS)
    companies = write_companies_house(tmp_path / "BasicCompanyData-2026-11-01.csv", 12, seed=4, zipped=False)
    rows = [[f"first{i}", f"last{i}", str(i), f"co {i}"] for i in range(6)]
    contacts = write_csv(tmp_path / "contacts.csv", HEADER, rows)
    with contacts.open("a", encoding="utf-8") as handle:
        handle.write("too,many,fields,in,this,record\n")
    again = tmp_path / "contacts-again.csv"
    again.write_bytes(contacts.read_bytes())
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    ws.cli("ingest", "--rule", "companies", str(companies))
    ws.cli("ingest", str(contacts))
    ws.cli("ingest", str(again), str(empty), check=False)
    statuses = {r["file_name"]: r["status"] for r in ws.status()}
    assert statuses == {companies.name: "loaded", "contacts.csv": "loaded", again.name: "duplicate",
                        "empty.csv": "failed"}
    return ws


def test_views_answer_from_real_loads(loaded):
    ws = loaded
    records = {r["file_name"]: r for r in ws.status()}
    recent = ws.query("SELECT file_name, status FROM ingest_recent_loads ORDER BY load_id")
    assert [r[0] for r in recent] == [r["file_name"] for r in ws.status()]
    failures = ws.query("SELECT file_name, error FROM ingest_failures_24h")
    assert len(failures) == 1 and failures[0][0] == "empty.csv" and "empty" in failures[0][1]
    per_day = ws.query("SELECT target_schema, target_table, files_loaded, rows_loaded, rows_rejected "
                       "FROM ingest_rows_per_target_day ORDER BY target_table")
    schema = records["contacts.csv"]["target"].split(".")[0]
    assert per_day == [("ref", "companies", 1, 12, 0), (schema, "contacts", 1, 6, 1)]
    lineage = ws.query("SELECT DISTINCT l.file_name, l.sha256 FROM ref.companies AS c "
                       "JOIN ingest_lineage AS l ON l.load_id = c._load_id")
    company = records["BasicCompanyData-2026-11-01.csv"]
    assert lineage == [(company["file_name"], company["sha256"])]


def test_audit_queries_run_as_shipped(loaded):
    ws = loaded
    folder = backend_of(ws.url).view_sql.folder
    queries = named_queries(SQL / folder / "audit_queries.sql")
    assert set(queries) == set(named_queries(SQL / "mssql" / "audit_queries.sql"))
    number = ws.query("SELECT MIN(company_number) FROM ref.companies")[0][0]
    queries["row_lineage"] = queries["row_lineage"].replace("'07687209'", f"'{number}'")
    results = {name: ws.query(sql) for name, sql in queries.items()}

    assert sorted(r[1] for r in results["loaded_today"]) == ["BasicCompanyData-2026-11-01.csv", "contacts.csv"]
    assert [(r[1], "empty" in r[6]) for r in results["failed"]] == [("empty.csv", True)]
    assert [(r[0], r[2]) for r in results["row_lineage"]] == [(number, "BasicCompanyData-2026-11-01.csv")]
    assert sorted((r[1], int(r[3]), int(r[4])) for r in results["rows_per_target_day"]) == [
        ("companies", 1, 12), ("contacts", 1, 6)]
    assert sorted((r[1], int(r[3])) for r in results["targets"]) == [("companies", 12), ("contacts", 6)]
    assert [(r[1], r[6]) for r in results["duplicates"]] == [("contacts-again.csv", "contacts.csv")]
    assert len(results["slowest"]) == 2
    assert [(r[1], "too,many,fields" in r[4]) for r in results["rejects_of_load"]] == [(8, True)]
    assert results["in_flight"] == []
    assert [r[3] for r in results["file_history"]] == ["claimed", "loading", "loaded"]


def test_init_db_restores_missing_views(make_workspace):
    ws = make_workspace(CONTACTS)
    ws.cli("init-db")
    engine = engine_for(ws.url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP VIEW ingest_lineage")
    finally:
        engine.dispose()
    with pytest.raises(Exception, match="ingest_lineage"):
        ws.query("SELECT COUNT(*) FROM ingest_lineage")
    ws.cli("init-db")
    assert ws.query("SELECT COUNT(*) FROM ingest_lineage") == [(0,)]
    for name in VIEW_NAMES:
        assert ws.query(f"SELECT COUNT(*) FROM {name}")[0][0] == 0
