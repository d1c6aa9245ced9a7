"""A pooled connection is pinged on checkout only after it sat idle; one that does not answer
is replaced. An append's target is looked at once per file, and widened when a column of the
file is missing again (nothing is remembered between files)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from monitor.backends import Backend
from monitor.backends.idle_ping import ping_when_idle
from monitor.load.write.strategies import Append, LoadJob


def _kill_server_side(engine_url: str, pid: int) -> None:
    url = engine_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _pooled_pid(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_that_died_is_replaced_on_checkout(pg_database: str) -> None:
    engine = create_engine(pg_database, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=0.0)  # every connection counts as idle
    try:
        first = _pooled_pid(engine)
        _kill_server_side(pg_database, first)
        assert _pooled_pid(engine) != first  # pinged, found dead, replaced: the query ran
    finally:
        engine.dispose()


def test_a_connection_back_moments_ago_is_not_pinged(pg_database: str) -> None:
    engine = create_engine(pg_database, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=3600.0)  # never idle long enough: no ping
    try:
        _kill_server_side(pg_database, _pooled_pid(engine))
        with pytest.raises(OperationalError), engine.connect() as conn:  # the error is the statement's
            conn.execute(text("SELECT 1"))
        assert _pooled_pid(engine) > 0  # the pool then connects anew
    finally:
        engine.dispose()


def test_append_widens_the_target_again_after_a_column_is_dropped(backend: Backend) -> None:
    schema = backend.schema_for(False)
    job = LoadJob(1, schema, "contacts", ["email", "name"])
    Append().prepare(backend, job)
    with backend.reading() as conn:
        assert {"email", "name"} <= set(backend.columns_of(conn, schema, "contacts"))
    with backend.transaction() as conn:  # a DBA changes the table between two files
        conn.execute(text(f"ALTER TABLE {backend.qualified(schema, 'contacts')} DROP COLUMN name"))
        conn.execute(text(f"ALTER TABLE {backend.qualified(schema, 'contacts')} ADD note VARCHAR(20)"))
    Append().prepare(backend, LoadJob(2, schema, "contacts", ["email", "name"]))
    with backend.reading() as conn:
        present = backend.columns_of(conn, schema, "contacts")
    assert {"email", "note", "name"} <= set(present)
    assert present.index("note") < present.index("name")  # added back, after the DBA's column
