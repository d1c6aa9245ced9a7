"""Running the daemon, the same way under `ingest-monitor run` and the Windows service:
refuse watched folders that do not exist, take the instance lock, start the status server
(page, `/metrics`, `/health`), and release all of it when the daemon stops.

The database is not needed to start: the daemon opens it itself, and waits for it when it
does not answer (see `Daemon.run`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from monitor.backends import Backend
from monitor.config import ConfigError, Settings
from monitor.operate.app import build_app
from monitor.operate.checks import missing_folder
from monitor.operate.daemon import Daemon
from monitor.operate.instance_lock import InstanceLock
from monitor.operate.notify import Notifier
from monitor.operate.readiness import FolderLog
from monitor.operate.web import StatusServer, start_status_server

IDENTITY_TIMEOUT = 5.0  # seconds the database has to say who it is before the URL serves


def refuse_missing_folders(settings: Settings) -> None:
    """A ConfigError naming every watched folder that does not exist (a mistyped path is
    refused, never created)."""
    missing = [problem for index, rule in enumerate(settings.folders) if (problem := missing_folder(index, rule))]
    if missing:
        raise ConfigError("not starting: " + "; ".join(missing))


def database_identity(backend: Backend, timeout: float = IDENTITY_TIMEOUT) -> str:
    """The database as the instance lock names it: as the server names itself (PostgreSQL:
    the cluster's system identifier, port and database; SQLite: the file's real path), so
    two spellings of one database (`:5432` or no port, `localhost` or its address) are one;
    when it does not answer within `timeout`, its URL with the host's address and the
    default port filled in, without user or password."""
    found: list[str | None] = []
    probe = threading.Thread(target=lambda: found.append(_asked(backend)), name="db-identity", daemon=True)
    probe.start()
    probe.join(timeout)
    if found and found[0]:
        return found[0]
    url = backend.engine.url
    host = url.host or ""
    with suppress(OSError):
        host = socket.gethostbyname(host) if host else host
    return f"{url.get_backend_name()}://{host}:{url.port or backend.default_port or ''}/{url.database or ''}"


def _asked(backend: Backend) -> str | None:
    try:
        return backend.identity()
    except Exception:  # down: the URL serves
        return None


@contextmanager
def running(settings: Settings, notifier: Notifier | None = None) -> Iterator[tuple[Daemon, StatusServer | None]]:
    """A daemon ready to `run`, its status server serving, its instance lock held."""
    refuse_missing_folders(settings)
    app = build_app(settings, init_db=False)
    try:
        with InstanceLock(app.state.instance, database_identity(app.backend)):
            daemon = Daemon(app, notifier)
            folder_log = FolderLog(settings)
            daemon.on_tick.append(lambda: folder_log.tick(daemon.settings))
            server = start_status_server(daemon)
            try:
                yield daemon, server
            finally:
                if server is not None:
                    server.stop()
    finally:
        app.close()
