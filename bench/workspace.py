"""An ingest-monitor workspace for the bench: config, watched folder, database, and the
real command line (`ingest-monitor ...` as a subprocess), one-off or as the daemon."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from monitor.backends import open_backend
from monitor.catalog import events, files
from monitor.config import Settings


def cli_command() -> list[str]:
    """`ingest-monitor` of this environment (the console script beside the interpreter)."""
    script = Path(sys.executable).with_name("ingest-monitor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def cli_env() -> dict[str, str]:
    """The environment without INGEST_* overrides, so the workspace config decides."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INGEST_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Workspace:
    """A config file and its one watched folder, on one database."""

    root: Path
    url: str
    config: Path
    folder: Path
    table: str

    def command(self, *args: str) -> list[str]:
        """The command line `ingest-monitor --config <this> ARGS...`."""
        return [*cli_command(), "--config", str(self.config), *args]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """Run a command to its end; raise with its output when it fails."""
        result = subprocess.run(self.command(*args), cwd=self.root, env=cli_env(), capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"ingest-monitor {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout}\n{result.stderr}")
        return result

    def start_daemon(self) -> subprocess.Popen:
        """`ingest-monitor run` in the background (its log in the workspace)."""
        log = (self.root / "daemon.log").open("ab")
        return subprocess.Popen(self.command("run"), cwd=self.root, env=cli_env(), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def engine(self) -> Engine:
        """An engine on the workspace database (for reading the audit tables)."""
        return open_backend(self.url, pool_size=2).engine  # as the daemon connects

    def loaded_count(self, engine: Engine) -> int:
        """Files `loaded` so far."""
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(files.c.status == "loaded")).scalar_one())

    def audit(self, engine: Engine) -> list[dict[str, Any]]:
        """Every audit row with its first event's time (the claim)."""
        claimed = (select(events.c.load_id, func.min(events.c.at).label("claimed_at"))
                   .group_by(events.c.load_id).subquery())
        query = select(files, claimed.c.claimed_at).join(claimed, claimed.c.load_id == files.c.load_id, isouter=True)
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def stop_daemon(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM, then wait (kill if it does not stop)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_workspace(
    root: Path, url: str, *, table: str, pattern: str, mode: str = "append", reference: bool = False,
    settle: float = 1.0, workers: int = 4, key_columns: list[str] | None = None, **settings: Any,
) -> Workspace:
    """Write the config and create the watched folder (the database is initialised by the caller);
    `key_columns` for a merge rule."""
    if root.exists():
        shutil.rmtree(root)
    folder = root / "incoming" / table
    folder.mkdir(parents=True)
    config: dict[str, Any] = {
        "database_url": url, "settle_seconds": settle, "workers": workers,
        "folders": [{"path": str(folder), "pattern": pattern, "table": table, "mode": mode, "reference": reference,
                     **({"key_columns": key_columns} if key_columns else {})}],
        **settings,
    }
    if "http_port" in Settings.model_fields:
        config.setdefault("http_port", 0)  # no status page: several bench daemons may run at once
    path = root / "config" / "monitor.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(config, indent=2))
    return Workspace(root, url, path, folder, table)
