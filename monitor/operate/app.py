"""Wiring: settings -> backend -> state store -> pipeline, shared by the CLI and the daemon."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from monitor.backends import Backend, open_backend
from monitor.config import ConfigError, FolderRule, Settings
from monitor.errors import first_line
from monitor.load import setup
from monitor.load.pipeline import Pipeline
from monitor.load.state.machine import StateStore
from monitor.operate.exits import DatabaseUnavailable, database_reason, is_unreachable
from monitor.records import FileRecord


@dataclass
class App:
    """Everything one process needs to load files."""

    settings: Settings
    backend: Backend
    state: StateStore
    pipeline: Pipeline

    def close(self) -> None:
        """Release database connections."""
        self.backend.dispose()

    def rule_of(self, row: FileRecord) -> FolderRule | None:
        """The folder rule that loads into an audit row's target, preferring its source folder."""
        return self.pipeline.rules.for_load(row, self.backend.schema_for)


def build_app(settings: Settings, *, instance: str | None = None, init_db: bool = True) -> App:
    """Open the database (creating what the daemon needs) and assemble the pipeline.

    The instance name identifies who holds a file's lease: the daemon uses the
    configured name or the host name, one-off commands a per-process name.
    """
    backend = open_database(settings)
    if init_db:
        try:
            setup.init_db(backend)
        except Exception as exc:
            backend.dispose()
            if is_unreachable(exc):
                raise DatabaseUnavailable(f"{shown_url(settings.database_url)}: {database_reason(exc)}") from exc
            raise
    name = instance or settings.instance or socket.gethostname()
    state = StateStore(backend, name, settings.lease_seconds)
    return App(settings, backend, state, Pipeline(settings, backend, state))


def shown_url(url: str) -> str:
    """A database URL as logs and messages show it: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def open_database(settings: Settings) -> Backend:
    """The backend of the configured URL; a URL no backend takes is a configuration error."""
    # A worker may hold two connections at once (its load and a lease renewal), plus the
    # sweeper, the status page and one-off reads.
    pool_size = max(16, 2 * settings.workers + 4)
    try:
        return open_backend(settings.database_url, settings.backend, pool_size=pool_size)
    except (ArgumentError, NoSuchModuleError, ValueError, ImportError) as exc:
        reason = first_line(exc)
        if isinstance(exc, NoSuchModuleError) or "unsupported database URL scheme" in reason:
            reason = (f"unknown database URL scheme {make_url(settings.database_url).drivername!r} (expected "
                      "sqlite:///..., postgresql+psycopg://..., mssql+pyodbc://... or mssql+mssqlpython://...)")
        raise ConfigError(f"database_url: {shown_url(settings.database_url)}: {reason}") from exc


def one_off_instance() -> str:
    """A lease holder name for a short-lived command (never the daemon's)."""
    return f"{socket.gethostname()}:cli:{os.getpid()}"
