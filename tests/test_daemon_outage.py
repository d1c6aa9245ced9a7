"""The database goes away mid-run (a private PostgreSQL cluster, stopped with
`pg_ctl -m immediate` and started again): the daemon logs it, backs off, keeps detecting
files, and loads every one exactly once when the database is back."""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CONTACTS, DaemonProcess, Workspace, cli_env, drop, wait_for, write_csv

PG_USER = "postgres"


def _tool(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        pytest.fail(f"{name} not found (install the PostgreSQL server: apt-get install postgresql); "
                    "the outage test needs a private cluster it can stop and start")
    return found[-1]


def _free_port(start: int = 54329) -> int:
    for port in range(start, start + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free TCP port for the private PostgreSQL cluster")


class PrivateCluster:
    """A throw-away PostgreSQL cluster owned by the `postgres` OS user, on its own port."""

    def __init__(self) -> None:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.fail(f"no OS user {PG_USER!r} to run a private PostgreSQL cluster")
        self.initdb, self.pg_ctl = _tool("initdb"), _tool("pg_ctl")
        self.root = Path(tempfile.mkdtemp(prefix="ingest-monitor-pg-"))
        shutil.chown(self.root, PG_USER, PG_USER)
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = _free_port()
        self._as_postgres(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _as_postgres(self, *command: str) -> None:
        result = subprocess.run(["runuser", "-u", PG_USER, "--", *command], capture_output=True, text=True,
                                timeout=120)
        if result.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """A crash, as far as clients can tell: connections drop, nothing is flushed politely."""
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(["runuser", "-u", PG_USER, "--", self.pg_ctl, "-D", str(self.data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster this test run may stop and start (never the shared one)."""
    if os.geteuid() != 0:
        pytest.fail("the outage test runs PostgreSQL as the postgres user: it needs root (runuser)")
    cluster = PrivateCluster()
    try:
        yield cluster
    finally:
        cluster.remove()


def _workspace(root: Path, url: str, **settings: object) -> Workspace:
    rule = dict(CONTACTS, path=str(root / CONTACTS["path"]))
    Path(rule["path"]).mkdir(parents=True, exist_ok=True)
    config = root / "config" / "monitor.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"database_url": url, "settle_seconds": 0.3, "folders": [rule], **settings}))
    return Workspace(root, url, config, [rule])


def test_the_database_goes_away_and_comes_back(private_pg, tmp_path):
    ws = _workspace(tmp_path / "ws", private_pg.url, batch_rows=2_000, lease_seconds=10)
    folder = ws.folder("contacts")
    expected: dict[str, int] = {}

    def add(name: str, rows: int) -> None:
        path = write_csv(tmp_path / "source" / name, ["file", "line"], [[name, str(i)] for i in range(rows)])
        drop(path, folder)
        expected[name] = rows

    daemon = DaemonProcess(ws, [], env=cli_env())
    try:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        for index in range(3):
            add(f"before-{index}.csv", 100)
        wait_for(lambda: ws.query("SELECT COUNT(*) FROM ingest_files WHERE status = 'loaded'") == [(3,)])
        add("during.csv", 400_000)  # stopped under its feet
        wait_for(lambda: ws.query("SELECT status FROM ingest_files WHERE file_name = 'during.csv'") == [("loading",)],
                 timeout=60, interval=0.05)
        private_pg.stop()
        for index in range(4):
            add(f"while-down-{index}.csv", 50 + index)
        wait_for(lambda: "file(s) detected and waiting for it" in daemon.output(), timeout=60)
        wait_for(lambda: len(re.findall(r"database still unavailable .*; retry \d+ in", daemon.output())) >= 3,
                 timeout=120)
        assert daemon.proc.poll() is None, "the daemon must survive the outage"
        assert all((folder / name).exists() for name in expected if name.startswith("while-down"))
        private_pg.start()
        wait_for(lambda: ws.query("SELECT COUNT(*) FROM ingest_files WHERE status = 'loaded'") == [(len(expected),)],
                 timeout=180, interval=0.5)
    finally:
        code = daemon.stop()
    assert code == 0
    output = daemon.output()
    assert output.count("database unavailable (") == 1, "the outage is reported once, then retried quietly"
    assert "database available again after" in output
    delays = [float(d) for d in re.findall(r"retry \d+ in ([0-9.]+)s", output)]
    assert max(delays) > min(delays[:1] or [0]), f"backoff must grow: {delays}"
    audit = ws.query("SELECT file_name, status, load_id, rows_loaded FROM ingest_files")
    assert sorted(name for name, *_ in audit) == sorted(expected), "one audit row per file"
    assert {name: rows for name, _, _, rows in audit} == expected
    assert dict(ws.query("SELECT _load_id, COUNT(*) FROM contacts GROUP BY _load_id")) == {
        load_id: rows for _, _, load_id, rows in audit}
    assert dict(ws.query("SELECT file, COUNT(*) FROM contacts GROUP BY file")) == expected
    assert not any(folder.iterdir())
