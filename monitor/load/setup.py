"""The daemon's own tables at start: created on a new database, brought up to this version on
an older one (missing columns and indexes added, the operator views recreated), left alone
(no write lock taken) when they are current. Each backend supplies the primitives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, insert, select

from monitor import catalog
from monitor.backends.merging import Place

if TYPE_CHECKING:
    from monitor.backends.base import Backend

VERSION_KEY = "schema_version"


def schema_version(conn: Connection) -> int | None:
    """The version the database's tables were made or last brought up to (None: before versions)."""
    value = conn.execute(select(catalog.meta.c.value).where(catalog.meta.c.key == VERSION_KEY)).scalar()
    return int(value) if value is not None and str(value).isdigit() else None


def is_initialised(backend: Backend) -> bool:
    """True when the schemas, the daemon's tables and the operator views all exist, at this version."""
    if not backend.objects_exist():
        return False
    with backend.reading() as conn:
        return schema_version(conn) == catalog.SCHEMA_VERSION


def init_db(backend: Backend) -> None:
    """Create or bring up to this version the schemas, tables and views (see the module)."""
    if is_initialised(backend):
        return
    with backend.transaction() as conn:
        backend.lock_target(conn, None, "ingest-monitor init")
        backend.create_schemas(conn)
        catalog.metadata.create_all(conn, checkfirst=True)
        backend.add_missing_columns(conn)
        for table in catalog.metadata.sorted_tables:
            for index in table.indexes:  # looked up the backend's way (Babelfish renames indexes inside)
                if index.name and not backend.has_index(conn, Place(table.schema, table.name), index.name):
                    index.create(conn)
        if schema_version(conn) != catalog.SCHEMA_VERSION:
            backend.drop_views(conn)
            conn.execute(delete(catalog.meta).where(catalog.meta.c.key == VERSION_KEY))
            conn.execute(insert(catalog.meta).values(key=VERSION_KEY, value=str(catalog.SCHEMA_VERSION)))
        backend.create_views(conn)
