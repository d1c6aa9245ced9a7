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
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import CONTACTS, PG_ADMIN_URL, DaemonProcess, Workspace, cli_env, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, get

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

    def fresh_database(self) -> str:
        """A new, empty database on the cluster (its URL), for a test of its own."""
        name = f"im_{time.monotonic_ns()}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

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


def _health(base: str) -> tuple[int, dict]:
    status, _, body = get(base + "health")
    return status, json.loads(body)


def test_the_daemon_starts_with_the_database_down_and_loads_once_it_answers(private_pg, tmp_path):
    """Under systemd a start without the database must not become a restart loop: the daemon
    starts, says once that the database is unavailable, answers /health with 503, says so in
    its STATUS= line and on its page, keeps watching, and loads the waiting files once it is up."""
    port = free_port()
    ws = _workspace(tmp_path / "ws", private_pg.fresh_database(), http_port=port)
    folder, base = ws.folder("contacts"), f"http://127.0.0.1:{port}/"
    private_pg.stop()
    address = Path(f"/tmp/im-notify-{time.monotonic_ns()}")
    statuses: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(60)
        daemon = DaemonProcess(ws, [], env=cli_env(NOTIFY_SOCKET=str(address)))
        try:
            wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
            assert "database unavailable (OperationalError: connection failed" in daemon.output()
            code, body = _health(base)
            causes = body.pop("causes")
            assert code == 503 and body == {"status": "unavailable", "watching": True, "database": False,
                                            "schema": False, "loads_paused": True, "writable": True,
                                            "folders": {str(folder.resolve()): True}}
            assert [c.split(" (")[0] for c in causes] == ["the database does not answer"]
            assert "connection failed" in causes[0], causes
            for index in range(3):
                write_csv(folder / f"early-{index}.csv", ["n"], [[str(index)], [str(index + 1)]])
            status = wait_for(lambda: (s := api(base))["queue"]["waiting"] == 3 and s, timeout=60)
            assert status["queue"]["settling"] == 0, "ready files wait for the database; they are not settling"
            assert status["loads"] is None and status["error"] == "the database does not answer"
            page = dump_dom(chromium(), base)
            assert "no loads yet" not in page and "no failures" not in page
            assert "unknown: the database does not answer" in page and "database: NO" in page
            assert page.split('id="waiting" class="big">')[1].startswith("3<")
            while not any(line.startswith("STATUS=database unavailable since") and "3 file(s) waiting" in line
                          for line in statuses):
                statuses.extend(sock.recv(4096).decode().splitlines())
            assert "READY=1" in statuses, "ready (watching) although the database is down: no start timeout"
            assert daemon.proc.poll() is None, "the daemon must not exit while the database is down"
            assert all((folder / f"early-{index}.csv").exists() for index in range(3))
            private_pg.start()
            wait_for(lambda: ws.query("SELECT COUNT(*) FROM ingest_files WHERE status = 'loaded'") == [(3,)],
                     timeout=180, interval=0.5)
            assert wait_for(lambda: _health(base)[0] == 200, timeout=60)
            write_csv(folder / "later.csv", ["n"], [["9"]])
            wait_for(lambda: ws.query("SELECT status FROM ingest_files WHERE file_name = 'later.csv'")
                     == [("loaded",)], timeout=60)
        finally:
            code = daemon.stop()
            address.unlink(missing_ok=True)
    assert code == 0
    output = daemon.output()
    assert output.count("database unavailable (") == 1, "said once, then retried quietly"
    assert "Traceback" not in output
    assert "database available again after" in output
    assert dict(ws.query("SELECT file_name, rows_loaded FROM ingest_files")) == {
        "early-0.csv": 2, "early-1.csv": 2, "early-2.csv": 2, "later.csv": 1}


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("how", ["database-recreated", "tables-dropped"])
def test_the_daemon_recreates_its_tables_and_never_claims_health_without_them(make_workspace, backend_url, how):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port, lease_seconds=3)
    base, name = f"http://127.0.0.1:{port}/", backend_url.rsplit("/", 1)[1]
    admin = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    with ws.daemon() as daemon:
        wait_for(lambda: _health(base)[0] == 200, timeout=120)
        write_csv(ws.folder("contacts") / "first.csv", ["n"], [["1"]])
        wait_for(lambda: ws.query("SELECT status FROM ingest_files") == [("loaded",)], timeout=60)
        if how == "database-recreated":
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        else:
            with psycopg.connect(**{**admin, "dbname": name}, autocommit=True) as conn:
                conn.execute("DROP TABLE ingest_events, ingest_rejects, ingest_files, ingest_meta CASCADE")
        seen: list[int] = []

        def tables_back() -> bool:
            code, body = _health(base)
            seen.append(code)
            assert code == 503 or body["schema"], "healthy without its tables"
            return code == 200 and "ingest_files" in ws.tables()

        wait_for(tables_back, timeout=120, interval=0.3)
        write_csv(ws.folder("contacts") / "second.csv", ["n"], [["2"], ["3"]])
        wait_for(lambda: ws.query("SELECT file_name, status, rows_loaded FROM ingest_files")
                 == [("second.csv", "loaded", 2)], timeout=60)
    output = daemon.output()
    assert daemon.proc.returncode == 0 and "Traceback" not in output
    assert 503 in seen, "the page must say unhealthy while the tables are missing"
    assert output.count("database unavailable (") == 1, output[-3000:]
    assert output.count("recovery sweep failed") == 0 and output.count("unexpected error") == 0
