"""Database backends behind one interface; `open_backend` picks one from a URL."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from monitor.backends.base import BKP_SCHEMA, REF_SCHEMA, Backend

DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}

__all__ = ["BKP_SCHEMA", "REF_SCHEMA", "Backend", "open_backend"]


def open_backend(url: str) -> Backend:
    """A backend for a SQLAlchemy URL (`sqlite:///...`, `postgresql+psycopg://...`)."""
    parsed = make_url(url)
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    family = parsed.get_backend_name()
    if family == "sqlite":
        from monitor.backends.sqlite import SqliteBackend

        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 60})
        return SqliteBackend(engine)
    if family == "postgresql":
        from monitor.backends.postgres import PostgresBackend

        return PostgresBackend(create_engine(parsed, pool_pre_ping=True, pool_size=16, max_overflow=8))
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")
