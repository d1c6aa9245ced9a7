"""Wiring: settings -> backend -> state store -> pipeline, shared by the CLI and the daemon."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from sqlalchemy import Row

from monitor.backends import Backend, open_backend
from monitor.config import FolderRule, Settings
from monitor.load.pipeline import Pipeline
from monitor.load.state import StateStore


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

    def rule_of(self, row: Row) -> FolderRule | None:
        """The folder rule that loads into an audit row's target, preferring its source folder."""
        return self.pipeline.rules.for_load(row, self.backend.schema_for)


def build_app(settings: Settings, *, instance: str | None = None, init_db: bool = True) -> App:
    """Open the database (creating what the daemon needs) and assemble the pipeline.

    The instance name identifies who holds a file's lease: the daemon uses the
    configured name or the host name, one-off commands a per-process name.
    """
    # A worker may hold two connections at once (its load and a lease renewal), plus the
    # sweeper, the status page and one-off reads.
    pool_size = max(16, 2 * settings.workers + 4)
    backend = open_backend(settings.database_url, settings.backend, pool_size=pool_size)
    if init_db:
        backend.init_db()
    name = instance or settings.instance or socket.gethostname()
    state = StateStore(backend, name, settings.lease_seconds)
    return App(settings, backend, state, Pipeline(settings, backend, state))


def one_off_instance() -> str:
    """A lease holder name for a short-lived command (never the daemon's)."""
    return f"{socket.gethostname()}:cli:{os.getpid()}"
