"""Shared fixtures: real databases (SQLite files, a fresh PostgreSQL database per test),
real folders, and the real `ingest-monitor` command run as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from odbc_driver import register as register_odbc_driver_18
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from monitor.backends import Backend, open_backend
from monitor.backends.mssql.connect import drop_database, mssql_engine
from monitor.backends.sqlite.csv_reader import driver_module
from monitor.load import setup
from monitor.operate.exits import Exit

# Sealed: the suite never reads the caller's `.env` or the variables meant for the daemon
# (INGEST_DATABASE_URL, INGEST_INSTANCE, INGEST_MONITOR_CONFIG, ...): they are dropped here,
# every test runs in an empty folder of its own (`_sealed`), and subprocesses get `cli_env()`.
# Only the suite's own INGEST_TEST_* settings are read.
TEST_PREFIX = "INGEST_TEST_"
for _name in [name for name in os.environ if name.startswith("INGEST_") and not name.startswith(TEST_PREFIX)]:
    del os.environ[_name]
PG_ADMIN_URL = os.environ.get("INGEST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MSSQL_URL = os.environ.get("MSSQL_URL", "")  # a SQL Server login allowed to CREATE DATABASE
BACKENDS = ["sqlite", "postgresql", "mssql"]  # mssql: skipped unless MSSQL_URL is set
# ODBC Driver 18 registered from PyPI when missing (every SQL Server run tries it: test_mssql_drivers),
# before any ODBC call of the process: unixODBC reads ODBCSYSINI once.
ODBC_DRIVER_18 = register_odbc_driver_18() if MSSQL_URL else ""


def pytest_report_header() -> str:
    return ODBC_DRIVER_18


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "backend_url" in getattr(item, "fixturenames", ()) and "[postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)
        if "backend_url" in getattr(item, "fixturenames", ()) and "[mssql" in item.nodeid:
            item.add_marker(pytest.mark.mssql)


def _pg_connect(dbname: str | None = None) -> psycopg.Connection:
    conninfo = psycopg.conninfo.make_conninfo(PG_ADMIN_URL, **({"dbname": dbname} if dbname else {}))
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # a test that needs PostgreSQL fails, never skips
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")


@pytest.fixture(autouse=True)
def _sealed(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in an empty folder of its own, so no `.env` of the caller's is found,
    and without the daemon's environment variables (a test may set its own)."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    for name in [name for name in os.environ if name.startswith("INGEST_") and not name.startswith(TEST_PREFIX)]:
        monkeypatch.delenv(name)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its SQLAlchemy URL."""
    name = f"im_test_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    host, port, user = info.get("host", "127.0.0.1"), info.get("port", "5432"), info.get("user", "postgres")
    yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    with _pg_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


RACES = ("tuple concurrently updated", "currently in use")


def _in_catalog_race(admin: Engine, change: Callable[[Connection], object], tries: int = 5) -> None:
    """CREATE or DROP DATABASE, tried again when Babelfish reports a catalog race with another
    test creating or dropping one at the same moment ("tuple concurrently updated"), or a
    session `KILL` ended is not gone yet when the DROP comes ("currently in use")."""
    for attempt in range(tries):
        try:
            with admin.connect() as conn:
                change(conn)
            return
        except DBAPIError as exc:
            if not any(race in str(exc) for race in RACES) or attempt == tries - 1:
                raise
            time.sleep(0.5 + attempt)


@pytest.fixture
def mssql_database() -> Iterator[str]:
    """A fresh, empty SQL Server database on the server of `MSSQL_URL`; its URL.
    Skipped when MSSQL_URL is not set; fails when it is set and the server does not answer."""
    if not MSSQL_URL:
        pytest.skip("MSSQL_URL is not set")
    url = make_url(MSSQL_URL)
    if url.drivername == "mssql":
        url = url.set(drivername="mssql+pyodbc")
    name = f"im_test_{uuid.uuid4().hex[:12]}"
    admin = mssql_engine(url, isolation_level="AUTOCOMMIT")
    try:
        _in_catalog_race(admin, lambda conn: conn.exec_driver_sql(f"CREATE DATABASE [{name}]"))
        yield url.set(database=name).render_as_string(hide_password=False)
        _in_catalog_race(admin, lambda conn: drop_database(conn, name))
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite, on PostgreSQL and (with MSSQL_URL) on SQL Server."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'db' / 'ingest.db').as_posix()}"
    if request.param == "mssql":
        return request.getfixturevalue("mssql_database")
    return request.getfixturevalue("pg_database")


@pytest.fixture
def backend(backend_url: str) -> Iterator[Backend]:
    """The daemon's own backend object on the test's database, its tables created (for
    in-process tests of the core: state machine, backups, the rows' route, isolation)."""
    opened = open_backend(backend_url)
    setup.init_db(opened)
    yield opened
    opened.dispose()


def engine_for(url: str, **kwargs: Any) -> Engine:
    """An engine on `url`; SQLite through the daemon's own driver (one SQLite library per process)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("module", driver_module())
    if url.startswith("mssql"):  # the URL in the form its driver reads, as the daemon connects
        return mssql_engine(make_url(url), **kwargs)
    return create_engine(url, **kwargs)


def is_babelfish(url: str) -> bool:
    """Whether `url` is a SQL Server URL whose server is Babelfish for PostgreSQL."""
    if not url.startswith("mssql"):
        return False
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return bool(conn.exec_driver_sql("SELECT CAST(SERVERPROPERTY('babelfish') AS int)").scalar())
    finally:
        engine.dispose()


@dataclass
class Workspace:
    """A config file, its watched folders and a database."""

    root: Path
    url: str
    config: Path
    rules: list[dict[str, Any]] = field(default_factory=list)

    def folder(self, table: str) -> Path:
        rule = next(r for r in self.rules if r["table"] == table)
        return Path(rule["path"])

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run `ingest-monitor --config <this> ARGS...` for real; `check`: it succeeded (exit 0, or
        4: every file loaded, some rows rejected)."""
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=timeout, cwd=self.root, env=cli_env(),
        )
        if check and result.returncode not in (Exit.OK, Exit.REJECTS):
            raise AssertionError(f"ingest-monitor {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def status(self) -> list[dict[str, Any]]:
        """Every audit record, oldest first, via `status --json`."""
        return list(reversed(json.loads(self.cli("status", "--json", "--limit", "100000").stdout)))

    def query(self, sql: str, **params: Any) -> list[tuple]:
        """Run SQL against the workspace database (SQLite gets `ref` and `bkp` attached)."""
        engine = engine_for(self.url)
        try:
            with engine.connect() as conn:
                if self.url.startswith("sqlite"):
                    assert engine.url.database, "a SQLite URL names its file"
                    db = Path(engine.url.database)
                    for schema in ("ref", "bkp"):
                        attached = db.with_name(f"{db.stem}.{schema}{db.suffix}")
                        conn.exec_driver_sql(f"ATTACH DATABASE '{attached}' AS {schema}")
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def tables(self, schema: str | None = None) -> set[str]:
        """Table names in a schema (the default schema when None), on any backend."""
        backend = open_backend(self.url)
        try:
            with backend.reading() as conn:
                return set(backend.tables_in(conn, schema or backend.default_schema))
        finally:
            backend.dispose()

    def schemas(self) -> set[str]:
        """Schema names (SQLite: the attached databases)."""
        backend = open_backend(self.url)
        try:
            with backend.reading() as conn:
                return set(inspect(conn).get_schema_names())
        finally:
            backend.dispose()

    def daemon(self, *extra: str) -> DaemonProcess:
        """Start `ingest-monitor run` as a real process."""
        return DaemonProcess(self, list(extra))


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_") or k.startswith(TEST_PREFIX)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


_STARTED_DAEMONS: list[DaemonProcess] = []


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    """Kill any daemon a test started and left running (a failed or timed-out test)."""
    yield
    while _STARTED_DAEMONS:
        daemon = _STARTED_DAEMONS.pop()
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


class DaemonProcess:
    """A running daemon; stopped with SIGTERM (or killed) by the test."""

    def __init__(self, workspace: Workspace, extra: list[str], env: dict[str, str] | None = None) -> None:
        self.workspace = workspace
        self.log = workspace.root / f"daemon-{uuid.uuid4().hex[:6]}.log"
        self._log_handle = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(workspace.config), "run", *extra],
            stdout=self._log_handle, stderr=subprocess.STDOUT, cwd=workspace.root,
            env=env or cli_env(),
        )
        _STARTED_DAEMONS.append(self)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        self._log_handle.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._log_handle.close()

    def output(self) -> str:
        return self.log.read_text()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def make_workspace(tmp_path: Path, backend_url: str) -> Callable[..., Workspace]:
    """Build a workspace on the test's backend from folder rules (paths relative to it)."""

    def build(*rules: dict[str, Any], **settings: Any) -> Workspace:
        root = tmp_path / "ws"
        resolved = []
        for rule in rules:
            rule = dict(rule)
            rule["path"] = str(root / rule["path"])
            Path(rule["path"]).mkdir(parents=True, exist_ok=True)
            resolved.append(rule)
        config = {"database_url": backend_url, "settle_seconds": 0.5, "folders": resolved, **settings}
        path = root / "config" / "monitor.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2))
        return Workspace(root, backend_url, path, resolved)

    return build


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, int], Path]]:
    """Mount a small tmpfs file system (`mount(point, size_bytes)`), as a full disk is met;
    every one is unmounted after the test. Needs root."""
    mounted: list[Path] = []

    def mount(point: Path, size: int) -> Path:
        if os.geteuid() != 0:
            pytest.fail("a small file system is a tmpfs mount: the test needs root")
        point.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


COMPANIES: dict[str, Any] = {"path": "incoming/companies", "pattern": "BasicCompanyData*", "table": "companies",
             "mode": "fullload", "reference": True}
CONTACTS: dict[str, Any] = {"path": "incoming/contacts", "pattern": "*.csv", "table": "contacts",
            "mode": "append", "reference": False}


def wait_for(predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.2) -> Any:
    """Poll until `predicate()` is truthy (errors count as not yet); fail on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # not ready yet (e.g. the database is still being created)
            last_error, value = exc, None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}; last error: {last_error}")


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, newline: str = "\n") -> Path:
    """A small CSV written in place (tests drop files with `drop`)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def drop(source: Path, folder: Path, name: str | None = None) -> Path:
    """Drop a file the way a careful copier does: write aside, then rename in."""
    target = folder / (name or source.name)
    staged = folder / f".{target.name}.part"
    staged.write_bytes(source.read_bytes())
    staged.rename(target)
    return target
