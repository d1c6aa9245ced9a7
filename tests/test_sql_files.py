"""The DDL files an operator reads are exactly what the daemon creates."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.backends.ddl import render_schema

SQL = Path(__file__).resolve().parent.parent / "sql"


@pytest.mark.parametrize(("dialect", "folder"), [("mssql", "mssql"), ("postgresql", "postgres"), ("sqlite", "sqlite")])
def test_schema_files_are_generated_from_the_catalog(dialect, folder):
    assert (SQL / folder / "schema.sql").read_text() == render_schema(dialect), (
        f"regenerate: ingest-monitor ddl --dialect {dialect} --out sql/{folder}/schema.sql")
