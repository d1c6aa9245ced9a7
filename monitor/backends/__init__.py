"""Database backends behind one interface; `open_backend` picks one from a URL."""

from __future__ import annotations

import os

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from monitor.backends.base import BKP_SCHEMA, REF_SCHEMA, Backend

DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "mssql": "mssql+pyodbc"}
PASSWORD_ENV = "INGEST_DATABASE_PASSWORD"

__all__ = ["BKP_SCHEMA", "REF_SCHEMA", "Backend", "open_backend"]


def open_backend(url: str, *, mssql_bcp: bool = False, pool_size: int = 16, sqlite_driver: str = "sqlean") -> Backend:
    """A backend for a SQLAlchemy URL (`sqlite:///...`, `postgresql+psycopg://...`,
    `mssql+pyodbc://...`, `mssql+mssqlpython://...`; a bare `mssql://` means pyodbc).
    A URL with a user and no password takes it from `INGEST_DATABASE_PASSWORD`.
    `pool_size` connections are kept for a server database (half as many more on demand);
    `sqlite_driver` picks SQLite's driver module (`monitor.backends.sqlite_csv.driver_module`)."""
    parsed = make_url(url)
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    if parsed.username and parsed.password is None and os.environ.get(PASSWORD_ENV):
        parsed = parsed.set(password=os.environ[PASSWORD_ENV])
    family = parsed.get_backend_name()
    if family == "sqlite":
        from monitor.backends.sqlite import SqliteBackend
        from monitor.backends.sqlite_csv import driver_module

        engine = create_engine(parsed, module=driver_module(sqlite_driver),
                               connect_args={"check_same_thread": False, "timeout": 60})
        return SqliteBackend(engine)
    if family == "postgresql":
        from monitor.backends.postgres import PostgresBackend

        return PostgresBackend(create_engine(parsed, pool_pre_ping=True, pool_size=pool_size,
                                             max_overflow=pool_size // 2))
    if family == "mssql":
        from monitor.backends.mssql import MssqlBackend

        engine = create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size // 2)
        return MssqlBackend(engine, bcp=mssql_bcp)
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")
