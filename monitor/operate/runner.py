"""Running the daemon, the same way under `ingest-monitor run` and the Windows service:
refuse watched folders that do not exist, take the instance lock, start the status server
(page, `/metrics`, `/health`), and release all of it when the daemon stops.

The database is not needed to start: the daemon opens it itself, and waits for it when it
does not answer (see `Daemon.run`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.backends import Backend
from monitor.config import ConfigError, Settings
from monitor.operate.app import build_app
from monitor.operate.checks import missing_folder
from monitor.operate.daemon import Daemon
from monitor.operate.instance_lock import InstanceLock
from monitor.operate.notify import Notifier
from monitor.operate.web import StatusServer, start_status_server


def refuse_missing_folders(settings: Settings) -> None:
    """A ConfigError naming every watched folder that does not exist (a mistyped path is
    refused, never created)."""
    missing = [problem for index, rule in enumerate(settings.folders) if (problem := missing_folder(index, rule))]
    if missing:
        raise ConfigError("not starting: " + "; ".join(missing))


def database_identity(backend: Backend) -> str:
    """The database as the instance lock names it: its URL without the password, a SQLite
    file by its absolute path (two daemons in different folders with `sqlite:///data/x.db`
    use different files)."""
    url = backend.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return f"sqlite:///{Path(url.database).resolve()}"
    return backend.shown_url


@contextmanager
def running(settings: Settings, notifier: Notifier | None = None) -> Iterator[tuple[Daemon, StatusServer | None]]:
    """A daemon ready to `run`, its status server serving, its instance lock held."""
    refuse_missing_folders(settings)
    app = build_app(settings, init_db=False)
    try:
        with InstanceLock(app.state.instance, database_identity(app.backend)):
            daemon = Daemon(app, notifier)
            server = start_status_server(daemon)
            try:
                yield daemon, server
            finally:
                if server is not None:
                    server.stop()
    finally:
        app.close()
