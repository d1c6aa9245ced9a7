"""The daemon's own tables across versions, in-process on each real database: a database
made by an older version (a column missing, a view gone, no version recorded) is brought up
to this one at start, and a current one is left alone without taking the write lock."""

from __future__ import annotations

from sqlalchemy import delete, inspect, select, update

from monitor import catalog
from monitor.backends.merging import Place
from monitor.backends.views import VIEW_NAMES
from monitor.load import setup


def columns(backend, table: str) -> set[str]:
    with backend.reading() as conn:
        return set(backend.columns_of(conn, None, table))


def version(backend) -> str | None:
    with backend.reading() as conn:
        return conn.execute(select(catalog.meta.c.value).where(catalog.meta.c.key == "schema_version")).scalar()


def test_a_new_database_is_created_at_this_version(backend):
    assert setup.is_initialised(backend)
    assert version(backend) == str(catalog.SCHEMA_VERSION)
    assert columns(backend, "ingest_files") == {column.name for column in catalog.files.columns}
    with backend.reading() as conn:
        assert set(VIEW_NAMES) <= set(inspect(conn).get_view_names())


def test_an_older_database_gains_the_missing_column_and_fresh_views(backend):
    with backend.transaction() as conn:
        backend.drop_views(conn)
        conn.exec_driver_sql(f"ALTER TABLE {backend.qualified(None, 'ingest_files')} DROP COLUMN "
                             f"{backend.quote('duplicate_of')}")
        conn.execute(delete(catalog.meta))
    assert not setup.is_initialised(backend)
    setup.init_db(backend)
    assert "duplicate_of" in columns(backend, "ingest_files")
    assert version(backend) == str(catalog.SCHEMA_VERSION)
    with backend.reading() as conn:
        assert set(VIEW_NAMES) <= set(inspect(conn).get_view_names())
    assert setup.is_initialised(backend)


def test_a_view_dropped_by_hand_comes_back(backend):
    with backend.transaction() as conn:
        backend.drop_views(conn)
    assert not setup.is_initialised(backend)
    setup.init_db(backend)
    assert setup.is_initialised(backend)


def test_a_newer_version_recorded_is_not_taken_for_this_one(backend):
    with backend.transaction() as conn:
        conn.execute(update(catalog.meta).values(value=str(catalog.SCHEMA_VERSION + 1)))
    assert not setup.is_initialised(backend)


def test_a_database_from_before_snapshot_sets_gains_them(backend):
    with backend.transaction() as conn:
        backend.drop_views(conn)
        backend.drop_index(conn, Place(None, "ingest_files"), "ix_ingest_files_set")
        for column in ("set_part", "set_id", "snapshot_date"):
            conn.exec_driver_sql(f"ALTER TABLE {backend.qualified(None, 'ingest_files')} DROP COLUMN "
                                 f"{backend.quote(column)}")
        backend.drop_table(conn, None, "ingest_sets")
        conn.execute(update(catalog.meta).values(value="2"))
    assert not setup.is_initialised(backend)
    setup.init_db(backend)
    assert {"snapshot_date", "set_id", "set_part"} <= columns(backend, "ingest_files")
    assert columns(backend, "ingest_sets") == {column.name for column in catalog.sets.columns}
    with backend.reading() as conn:
        assert backend.has_index(conn, Place(None, "ingest_files"), "ix_ingest_files_set")  # Babelfish's name too
        assert "ingest_snapshot_sets" in set(inspect(conn).get_view_names())
    assert setup.is_initialised(backend)
