"""The README's audit queries: every question answered for every dialect, the same text as the
shipped `sql/<dialect>/audit_queries.sql`, and run for real after real loads (SQLite, PostgreSQL, and
SQL Server when MSSQL_URL is set)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from conftest import COMPANIES, CONTACTS, write_csv
from requirements import backend_of

ROOT = Path(__file__).resolve().parent.parent
DIALECTS = {"SQL Server": "mssql", "PostgreSQL": "postgres", "SQLite": "sqlite"}
QUESTIONS = {
    "today": "What loaded today?",
    "failed": "What failed, and why?",
    "rejects": "Which records were rejected, and why?",
    "lineage": "Where did this row come from?",
    "over_time": "How many rows per target over time?",
}


def readme_queries() -> dict[str, dict[str, str]]:
    """{question: {dialect folder: SQL}} from the README's "Audit queries" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Audit queries\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, dict[str, str]] = {}
    for question, block in re.findall(r"\*\*(.+?)\*\*[^\n]*\n(?:[^`\n][^\n]*\n|\n)*?```sql\n(.*?)```", section,
                                       flags=re.DOTALL):
        parts = re.split(r"^-- (SQL Server|PostgreSQL|SQLite)\n", block, flags=re.MULTILINE)
        variants = {folder: parts[0].strip() for folder in DIALECTS.values()} if parts[0].strip() else {}
        for name, sql in zip(parts[1::2], parts[2::2], strict=True):
            variants[DIALECTS[name]] = sql.strip()
        found[question] = variants
    return found


def _flat(sql: str) -> str:
    return " ".join(re.sub(r"\bN'", "'", sql).split()).rstrip(";")


def test_readme_answers_every_question_in_every_dialect():
    queries = readme_queries()
    assert set(QUESTIONS.values()) <= set(queries), sorted(queries)
    for question, variants in queries.items():
        assert set(variants) == set(DIALECTS.values()), question
        for folder, sql in variants.items():
            assert sql.endswith(";") and sql.count(";") == 1, (question, folder)
            shipped = _flat((ROOT / "sql" / folder / "audit_queries.sql").read_text())
            assert _flat(sql) in shipped, f"{question} ({folder}) differs from sql/{folder}/audit_queries.sql"
        sqlglot.parse_one(variants["mssql"], read="tsql")
    assert "SYSUTCDATETIME" in queries[QUESTIONS["today"]]["mssql"]


@pytest.fixture
def loaded(make_workspace, tmp_path):
    """Real loads: a companies snapshot (fullload), contacts with a reject (append), a failure."""
    ws = make_workspace(COMPANIES, CONTACTS)
    companies = write_csv(tmp_path / "BasicCompanyData-2026-11-01.csv", ["CompanyName", " CompanyNumber"],
                          [["ACME LTD", "07687209"], ["OTHER LTD", "00000001"]])
    contacts = write_csv(tmp_path / "contacts.csv", ["name", "email"],
                         [["ann", "a@x.io"], ["bob", "b@x.io", "extra"], ["cy", "c@x.io"]])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    ws.cli("ingest", "--rule", "companies", str(companies))
    ws.cli("ingest", str(contacts), str(empty), check=False)
    return ws


def test_readme_queries_answer_from_real_loads(loaded):
    ws = loaded
    backend = backend_of(ws.url)
    folder = backend.view_sql.folder
    queries = readme_queries()

    def run(key: str) -> list[tuple]:
        return ws.query(queries[QUESTIONS[key]][folder].rstrip(";"))

    today = run("today")
    assert sorted((r[1], r[4]) for r in today) == [("BasicCompanyData-2026-11-01.csv", 2), ("contacts.csv", 2)]
    [failed] = run("failed")
    assert failed[1] == "empty.csv" and "empty" in failed[6] and "failed" in failed[5]
    [reject] = run("rejects")
    assert reject[1] == 3 and "bob" in reject[4]
    [lineage] = run("lineage")
    assert lineage[0] == "07687209" and lineage[2] == "BasicCompanyData-2026-11-01.csv" and len(lineage[3]) == 64
    over_time = {(r[0], r[1]): r[3:] for r in run("over_time")}
    schema = backend.default_schema
    assert over_time == {("ref", "companies"): (1, 2, 0), (schema, "contacts"): (1, 2, 1)}
