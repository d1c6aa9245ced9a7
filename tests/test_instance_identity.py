"""The instance lock is named from the database itself, not from its URL's spelling: two
daemons of one instance name whose URLs reach the same database differently (`:5432` or no
port, `127.0.0.1` or `localhost`; a SQLite file through a symbolic link) do not run side by
side (the real daemon processes)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CONTACTS, DaemonProcess, cli_env, wait_for

from monitor.operate.exits import Exit


def _second(ws, url: str) -> subprocess.CompletedProcess:
    other = ws.root / "config" / "other.json"
    config = json.loads(ws.config.read_text())
    other.write_text(json.dumps({**config, "database_url": url}))
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(other), "run"], capture_output=True,
                          text=True, timeout=120, cwd=ws.root, env=cli_env(INGEST_INSTANCE="loader-01"))


def _refused_by(first: DaemonProcess, second: subprocess.CompletedProcess) -> str:
    assert second.returncode == Exit.RUNNING, second.stdout + second.stderr
    [line] = [line for line in second.stderr.splitlines() if line.startswith("refused:")]
    assert line.startswith(f"refused: another ingest-monitor (pid {first.proc.pid}) already runs as instance "
                           "'loader-01' on this host against "), line
    return line


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_one_postgresql_database_spelled_two_ways_holds_one_lock(make_workspace, backend_url):
    with_port = backend_url  # postgresql+psycopg://postgres@127.0.0.1:5432/name
    assert ":5432/" in with_port
    ws = make_workspace(CONTACTS, http_port=0)
    first = DaemonProcess(ws, [], env=cli_env(INGEST_INSTANCE="loader-01"))
    try:
        wait_for(lambda: "ingest-monitor running" in first.output(), timeout=60)
        no_port = _refused_by(first, _second(ws, with_port.replace(":5432/", "/")))
        by_name = _refused_by(first, _second(ws, with_port.replace("127.0.0.1:5432", "localhost")))
    finally:
        assert first.stop() == 0
    name = backend_url.rsplit("/", 1)[1]
    assert no_port.split(" against ")[1].startswith("postgresql:") and f":5432/{name}" in no_port
    assert by_name.split(" against ")[1] == no_port.split(" against ")[1]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_one_sqlite_file_through_a_link_holds_one_lock(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, http_port=0)
    real = (tmp_path / "db").resolve()
    link = tmp_path / "linked-db"
    link.symlink_to(real, target_is_directory=True)
    first = DaemonProcess(ws, [], env=cli_env(INGEST_INSTANCE="loader-01"))
    try:
        wait_for(lambda: "ingest-monitor running" in first.output(), timeout=60)
        line = _refused_by(first, _second(ws, f"sqlite:///{link / 'ingest.db'}"))
    finally:
        assert first.stop() == 0
    assert line.split(" against ")[1].startswith(f"sqlite:{real / 'ingest.db'}")
