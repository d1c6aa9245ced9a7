"""Database backends behind one interface (`base.Backend`), one package per database;
`open_backend` picks one from a URL."""

from __future__ import annotations

import importlib
import os

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from monitor.backends.base import Backend
from monitor.catalog import BKP_SCHEMA, REF_SCHEMA
from monitor.config import BackendOptions

DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "mssql": "mssql+pyodbc"}
PASSWORD_ENV = "INGEST_DATABASE_PASSWORD"
DIALECTS = ("mssql", "postgresql", "sqlite")
_CLASSES = {"sqlite": "monitor.backends.sqlite:SqliteBackend",
            "postgresql": "monitor.backends.postgres:PostgresBackend",
            "mssql": "monitor.backends.mssql:MssqlBackend"}

__all__ = ["BKP_SCHEMA", "DIALECTS", "REF_SCHEMA", "Backend", "backend_class", "open_backend"]


def backend_class(dialect: str) -> type[Backend]:
    """The backend class of a dialect (`sqlite`, `postgresql`, `mssql`), imported on demand."""
    module, _, name = _CLASSES[dialect].partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls


def open_backend(url: str, options: BackendOptions | None = None, *, pool_size: int = 16) -> Backend:
    """A backend for a SQLAlchemy URL (`sqlite:///...`, `postgresql+psycopg://...`,
    `mssql+pyodbc://...`, `mssql+mssqlpython://...`; a bare `mssql://` means pyodbc).
    A URL with a user and no password takes it from `INGEST_DATABASE_PASSWORD`.
    `pool_size` connections are kept for a server database (half as many more on demand);
    `options` holds each backend's own settings (SQLite's driver, PostgreSQL's split fill, SQL
    Server's bcp)."""
    backend = _open(url, options or BackendOptions(), pool_size)
    backend.shown_url = make_url(url).render_as_string(hide_password=True)  # never the driver's form
    return backend


def _open(url: str, options: BackendOptions, pool_size: int) -> Backend:
    parsed = make_url(url)
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    if parsed.username and parsed.password is None and os.environ.get(PASSWORD_ENV):
        parsed = parsed.set(password=os.environ[PASSWORD_ENV])
    family = parsed.get_backend_name()
    if family == "sqlite":
        from monitor.backends.sqlite import SqliteBackend
        from monitor.backends.sqlite.csv_reader import driver_module

        engine = create_engine(parsed, module=driver_module(options.sqlite.driver),
                               connect_args={"check_same_thread": False, "timeout": 60})
        return SqliteBackend(engine)
    if family == "postgresql":
        from monitor.backends.postgres import PostgresBackend

        backend = PostgresBackend(create_engine(parsed, pool_pre_ping=True, pool_size=pool_size,
                                                max_overflow=pool_size // 2))
        pg = options.postgresql
        backend.split_connections = pg.split_connections or min(2, os.cpu_count() or 1)
        backend.split_min_bytes = pg.split_min_bytes
        return backend
    if family == "mssql":
        from monitor.backends.mssql import MssqlBackend
        from monitor.backends.mssql.connect import mssql_engine

        engine = mssql_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size // 2)
        return MssqlBackend(engine, bcp=options.mssql.bcp, bulk_copy=options.mssql.bulk_copy)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")
