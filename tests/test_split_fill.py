"""One large fullload file filled over several PostgreSQL connections at once (`load.parallel`,
`postgres.parallel_copy`), in-process on the real database: the same rows and counts as the
one-connection load (quoted line breaks across the cuts included), the swap and the `loaded`
mark in one transaction, a staging table left by a crash dropped when the file loads again,
and a refused file going the one-connection way with the same outcome."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bench.generate import mixed
from monitor.backends.postgres import parallel_copy
from monitor.backends.postgres.copy_text import copy_blocks
from monitor.catalog import files
from monitor.config import Settings
from monitor.demo.companies_house import write_companies_house
from monitor.load.state.outcome import OutcomeKind
from monitor.load.write.run import LoadRun
from monitor.operate.app import build_app

pytestmark = pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
SPLIT = "over 2 connections"
ROWS = 700


@pytest.fixture
def app(backend_url, tmp_path, monkeypatch):
    """Two fullload rules (`split_t`, `single_t`); every file is split, in blocks of 8 KiB (so
    a file of a few hundred records is cut many times)."""
    monkeypatch.setattr(parallel_copy, "copy_blocks", partial(copy_blocks, block_chars=8192))
    rules = []
    for table in ("split_t", "single_t"):
        folder = tmp_path / "in" / table
        folder.mkdir(parents=True)
        rules.append({"path": str(folder), "pattern": "*.csv", "table": table, "mode": "fullload", "reference": True})
    settings = Settings.model_validate({
        "database_url": backend_url, "http_port": 0, "batch_rows": 100, "folders": rules,
        "backend": {"postgresql": {"split_connections": 2, "split_min_bytes": 0}}})
    made = build_app(settings, instance="test")
    yield made
    made.close()


def drop(app, source: Path, rule: int = 0, *, connections: int = 2):
    app.backend.split_connections = connections
    folder = app.settings.folders[rule]
    target = folder.path / source.name
    target.write_bytes(source.read_bytes())
    return app.pipeline.process(target, folder)


def rows_of(app, table: str) -> list[tuple]:
    """Every row but its load id, sorted (the split load's order is the connections')."""
    with app.backend.reading() as conn:
        columns = [c for c in app.backend.columns_of(conn, "ref", table) if c != "_load_id"]
        names = ", ".join(app.backend.quote(c) for c in columns)
        found = conn.exec_driver_sql(f"SELECT {names} FROM ref.{table}").all()
    return sorted((tuple(row) for row in found), key=repr)


def audit(app) -> dict[str, tuple]:
    with app.backend.reading() as conn:
        return {(r.target_table): (r.status, r.rows_read, r.rows_loaded, r.rows_rejected)
                for r in conn.execute(select(files))}


def staging_tables(app) -> list[str]:
    with app.backend.reading() as conn:
        return [t for t in app.backend.tables_in(conn, "ref") if "__stg_" in t]


@pytest.mark.parametrize("shape", ["benchmark", "mixed"])
def test_a_split_load_holds_the_one_connection_loads_rows(app, tmp_path, shape, caplog):
    source = tmp_path / "source" / "BasicCompanyData-2026-11-01.csv"
    source.parent.mkdir()
    if shape == "mixed":  # a third of the records hold a quoted line break, some `""` escapes
        mixed(source, ROWS, seed=3)
        assert b'\n' in source.read_bytes().replace(b"\r\n", b"")
    else:
        write_companies_house(source, ROWS, seed=3)
    with caplog.at_level(logging.DEBUG, logger="monitor.pipeline"):
        assert drop(app, source, 0).status is OutcomeKind.LOADED
    assert SPLIT in caplog.text and "parsed line by line" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="monitor.pipeline"):
        assert drop(app, source, 1, connections=1).status is OutcomeKind.LOADED
    assert SPLIT not in caplog.text
    assert rows_of(app, "split_t") == rows_of(app, "single_t") and len(rows_of(app, "split_t")) == ROWS
    counts = audit(app)
    assert counts["split_t"] == counts["single_t"] == ("loaded", ROWS, ROWS, 0)
    assert staging_tables(app) == []


def test_a_file_the_split_refuses_loads_as_one_connection_would(app, tmp_path, caplog):
    source = tmp_path / "source" / "BasicCompanyData-2026-11-01.csv"
    source.parent.mkdir()
    write_companies_house(source, ROWS, seed=4)
    text = source.read_bytes()
    cut = text.index(b"\r\n", len(text) * 2 // 3) + 2
    source.write_bytes(text[:cut] + b'"short","row"\r\n' + text[cut:])  # a record of 2 fields, far in
    with caplog.at_level(logging.DEBUG, logger="monitor.pipeline"):
        split = drop(app, source, 0)
    assert "not split over connections" in caplog.text
    single = drop(app, source, 1, connections=1)
    assert split.status == single.status
    assert audit(app)["split_t"] == audit(app)["single_t"]
    assert rows_of(app, "split_t") == rows_of(app, "single_t")
    assert staging_tables(app) == []


def test_the_swap_and_the_loaded_mark_commit_as_one(app, tmp_path, monkeypatch):
    source = tmp_path / "source"
    source.mkdir()
    first = write_companies_house(source / "BasicCompanyData-2026-10-01.csv", 50, seed=5)
    assert drop(app, first).status is OutcomeKind.LOADED
    before = rows_of(app, "split_t")

    def refused(self, conn, loaded, detail=None):
        raise RuntimeError("the mark fails after the swap, in its transaction")

    monkeypatch.setattr(LoadRun, "mark_loaded", refused)
    second = write_companies_house(source / "BasicCompanyData-2026-11-01.csv", 80, seed=6)
    assert drop(app, second).status is OutcomeKind.FAILED
    assert rows_of(app, "split_t") == before  # the swap rolled back with the mark
    assert staging_tables(app) == []


def test_a_staging_table_left_by_a_crash_is_dropped_when_the_file_loads_again(app, tmp_path):
    source = tmp_path / "source" / "BasicCompanyData-2026-11-01.csv"
    source.parent.mkdir()
    write_companies_house(source, ROWS, seed=7)
    assert drop(app, source).status is OutcomeKind.LOADED
    rows = rows_of(app, "split_t")
    with app.backend.reading() as conn:
        row = conn.execute(select(files)).one()
    # As after a kill -9 mid-fill: the file `loading`, no swap, a committed staging table half full.
    staging = app.backend.staging_name("split_t", row.load_id)
    with app.backend.transaction() as conn:
        conn.execute(update(files).where(files.c.load_id == row.load_id).values(status="loading", rows_loaded=None))
        conn.exec_driver_sql(f"ALTER TABLE ref.split_t RENAME TO {staging}")
        conn.exec_driver_sql(f"DELETE FROM ref.{staging} WHERE ctid IN (SELECT ctid FROM ref.{staging} LIMIT 300)")
    with app.backend.reading() as conn:
        row = conn.execute(select(files)).one()
    assert app.pipeline.resume(row, app.settings.folders[0]).status is OutcomeKind.LOADED
    assert rows_of(app, "split_t") == rows
    assert audit(app)["split_t"] == ("loaded", ROWS, ROWS, 0)
    assert staging_tables(app) == []


def test_a_split_load_cancelled_midway_rolls_back_and_loads_whole_later(app, tmp_path, monkeypatch):
    source = tmp_path / "source" / "BasicCompanyData-2026-11-01.csv"
    source.parent.mkdir()
    mixed(source, ROWS, seed=8)
    read = LoadRun.read

    def stopping(self, rows):
        if self.progress.rows > ROWS // 3:
            app.pipeline.cancel.set()  # the daemon is stopping while the connections fill
        read(self, rows)

    monkeypatch.setattr(LoadRun, "read", stopping)
    assert drop(app, source).status is not OutcomeKind.LOADED
    with app.backend.reading() as conn:
        row = conn.execute(select(files)).one()
        assert not app.backend.table_exists(conn, "ref", "split_t")
    assert staging_tables(app) == []
    monkeypatch.setattr(LoadRun, "read", read)
    app.pipeline.cancel.clear()
    assert app.pipeline.resume(row, app.settings.folders[0]).status is OutcomeKind.LOADED
    assert len(rows_of(app, "split_t")) == ROWS and audit(app)["split_t"] == ("loaded", ROWS, ROWS, 0)
