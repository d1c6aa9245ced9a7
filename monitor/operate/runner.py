"""Running the daemon, the same way under `ingest-monitor run` and the Windows service:
refuse what `check-config` calls a problem of the folders or the rules (in its words), take
the instance lock, start the status server (page, `/metrics`, `/health`), and release all of
it when the daemon stops.

The database is not needed to start: the daemon opens it itself, and waits for it when it
does not answer (see `Daemon.run`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.backends import Backend
from monitor.config import ConfigError, Settings
from monitor.operate.app import build_app
from monitor.operate.checks import folder_problems, rule_problems, rule_warnings
from monitor.operate.daemon import Daemon
from monitor.operate.instance_lock import InstanceLock
from monitor.operate.notify import Notifier
from monitor.operate.web import StatusServer, start_status_server

log = logging.getLogger("monitor.daemon")


def refuse_config_problems(settings: Settings) -> None:
    """A ConfigError naming every problem `check-config` finds in the folders and the rules, in
    its words (a mistyped path is refused, never created; a rule watching another rule's
    `failed/` would load what that rule refused); its warnings are logged, and it starts."""
    problems = [problem for index, rule in enumerate(settings.folders) for problem in folder_problems(index, rule)]
    problems += rule_problems(settings)
    if problems:
        raise ConfigError("not starting: " + "; ".join(problems))
    for warning in rule_warnings(settings):
        log.warning("config: %s", warning)


def database_identity(backend: Backend) -> str:
    """The database as the instance lock names it: its URL without the password, a SQLite
    file by its absolute path (two daemons in different folders with `sqlite:///data/x.db`
    use different files)."""
    url = backend.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return f"sqlite:///{Path(url.database).resolve()}"
    return url.render_as_string(hide_password=True)


@contextmanager
def running(settings: Settings, notifier: Notifier | None = None) -> Iterator[tuple[Daemon, StatusServer | None]]:
    """A daemon ready to `run`, its status server serving, its instance lock held."""
    refuse_config_problems(settings)
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
