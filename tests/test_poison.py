"""A file the database refuses while it answers (a limit, a lock, a trigger) is told from a
database that is gone: the load is tried a bounded number of times, then the file fails
with the database's reason; it never stalls other files nor waits for a recovery forever."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest
from conftest import is_babelfish
from requirements import backend_of
from sqlalchemy import text
from sqlalchemy.exc import OperationalError as WrappedOperationalError

from monitor.config import Settings
from monitor.load.pipeline import REFUSED_TRIES
from monitor.load.state.outcome import OutcomeKind
from monitor.load.write.isolation import failure_message, is_transient
from monitor.operate.app import build_app

REFUSE_ALWAYS = {
    "sqlite": ["CREATE TABLE poison_t (id TEXT, v TEXT, _load_id BIGINT)", "CREATE TABLE poison_aux (x TEXT)",
               "CREATE TRIGGER refuse AFTER INSERT ON poison_t BEGIN INSERT INTO poison_aux VALUES (1); END",
               "DROP TABLE poison_aux"],
    "postgresql": ["CREATE TABLE poison_t (id text, v text, _load_id bigint)",
                   "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                   "'no room for this row' USING ERRCODE = 'insufficient_resources'; END $$",
                   "CREATE TRIGGER refuse BEFORE INSERT ON poison_t FOR EACH ROW EXECUTE FUNCTION refuse()"],
    # severity 20 ends the session on SQL Server: the driver's error is of the outage kind
    "mssql": ["CREATE TABLE poison_t (id NVARCHAR(50), v NVARCHAR(50), _load_id BIGINT)",
              "CREATE TRIGGER refuse ON poison_t AFTER INSERT AS RAISERROR('no room for this row', 20, 1) WITH LOG"],
}
REFUSE_ONCE = {  # a sequence is not rolled back: only the first try is refused (a lock that went away)
    "postgresql": [
        "CREATE TABLE poison_t (id text, v text, _load_id bigint)", "CREATE SEQUENCE tries",
        "CREATE FUNCTION refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF nextval('tries') = 1 THEN "
        "RAISE EXCEPTION 'lock timeout' USING ERRCODE = 'lock_not_available'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_once BEFORE INSERT ON poison_t FOR EACH ROW EXECUTE FUNCTION refuse_once()"],
    "mssql": [
        "CREATE TABLE poison_t (id NVARCHAR(50), v NVARCHAR(50), _load_id BIGINT)",
        "CREATE SEQUENCE tries START WITH 1",
        "CREATE TRIGGER refuse_once ON poison_t AFTER INSERT AS BEGIN DECLARE @n BIGINT = NEXT VALUE FOR tries; "
        "IF @n = 1 RAISERROR('lock timeout', 20, 1) WITH LOG; END"],
}
BABELFISH_SEVERITY = ("Babelfish 4.2 reports RAISERROR of severity 20 as an ordinary error (SQL Server ends the "
                      "session), so no error of the outage kind can be raised while it answers")


def _dialect(url: str) -> str:
    """The backend's name: the key of its statements above."""
    return backend_of(url).name


def _app(backend_url, tmp_path, statements):
    folder = tmp_path / "incoming" / "poison"
    folder.mkdir(parents=True)
    settings = Settings(database_url=backend_url, http_port=0,
                        folders=[{"path": str(folder), "pattern": "*.csv", "table": "poison_t"}])
    app = build_app(settings, instance="test")
    with app.backend.transaction() as conn:
        for statement in statements:
            conn.execute(text(statement))
    path = folder / "rows.csv"
    path.write_text("id,v\n1,a\n2,b\n", encoding="utf-8")
    return app, path, settings.folders[0]


def test_a_statement_refused_while_the_database_answers_fails_the_file_after_bounded_tries(
        backend_url, tmp_path, caplog):
    dialect = _dialect(backend_url)
    if is_babelfish(backend_url):
        pytest.skip(BABELFISH_SEVERITY)
    app, path, rule = _app(backend_url, tmp_path, REFUSE_ALWAYS[dialect])
    try:
        with caplog.at_level(logging.WARNING, logger="monitor.pipeline"):
            outcome = app.pipeline.process(path, rule)
        row = app.state.get(outcome.load_id)
    finally:
        app.close()
    assert outcome.status is OutcomeKind.FAILED
    assert "refused by the database" in outcome.error
    assert f"({REFUSED_TRIES} tries; the database answers" in outcome.error
    assert row.attempts == REFUSED_TRIES and row.status == "failed"
    assert caplog.text.count("while it answers") == REFUSED_TRIES - 1 and "database unavailable" not in caplog.text
    note = tmp_path / "incoming" / "failed" / "poison" / "rows.csv.error.txt"
    assert "refused by the database" in note.read_text()


def test_a_refusal_that_goes_away_loads_on_the_next_try(backend_url, tmp_path):
    dialect = _dialect(backend_url)
    if dialect not in REFUSE_ONCE:
        pytest.skip(f"a refusal that goes away needs a sequence, which {backend_of(backend_url).label} has not")
    if is_babelfish(backend_url):
        pytest.skip(BABELFISH_SEVERITY)
    app, path, rule = _app(backend_url, tmp_path, REFUSE_ONCE[dialect])
    try:
        outcome = app.pipeline.process(path, rule)
        row = app.state.get(outcome.load_id)
        with app.backend.reading() as conn:
            rows = conn.execute(text("SELECT id FROM poison_t ORDER BY id")).scalars().all()
    finally:
        app.close()
    assert outcome.status is OutcomeKind.LOADED and row.attempts == 2 and rows == ["1", "2"]


def test_errors_of_the_outage_kind_are_told_raw_or_wrapped(tmp_path):
    raw = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError) as missing:
        raw.execute("SELECT * FROM no_such_table")
    raw.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    raw.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as twice:
        raw.execute("INSERT INTO t VALUES (1)")
    raw.close()
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect("host=127.0.0.1 port=1 connect_timeout=2")
    assert is_transient(missing.value) and is_transient(refused.value)
    assert is_transient(WrappedOperationalError("SELECT 1", {}, missing.value))
    assert not is_transient(twice.value) and not is_transient(ValueError("x"))
    assert failure_message(twice.value, "f.csv") == "f.csv: refused by the database: UNIQUE constraint failed: t.k"
    assert failure_message(OSError(28, "No space left on device", "/tmp/x/f.csv.rejects.csv"), "f.csv") == (
        "f.csv: /tmp/x is full (No space left on device) (writing f.csv.rejects.csv)")
