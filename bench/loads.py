"""Throughput: one file loaded by ingest-monitor and by the reference tools, per backend.

Every tool loads the same file into a fresh target: ingest-monitor through its real
command line (`ingest-monitor ingest`, the file already dropped in the watched
folder: hash, claim, read, load, audit, archive move), the references into an
identical pre-created table of text columns. Wall time and peak RSS come from the
tool's own process (`bench.measure.run_timed`); for psql the work is the server's,
so its RSS is only the client's.
"""

from __future__ import annotations

import csv
import io
import os
import shlex
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.databases import PgServer, sqlite_count, text_table_ddl
from bench.measure import Timing, run_timed
from bench.workspace import cli_env, make_workspace

REF_TABLE = "bench_ref"
COMPANIES_TABLE = "companies"


@dataclass
class LoadResult:
    """One tool's best run on one backend."""

    backend: str
    tool: str
    rows: int
    size_bytes: int
    wall: float
    peak_rss_kb: int
    loaded: int
    note: str = ""

    @property
    def rows_per_s(self) -> float:
        """Rows per second, end to end."""
        return self.rows / self.wall if self.wall else 0.0

    @property
    def mb_per_s(self) -> float:
        """File megabytes (10^6 bytes) per second."""
        return self.size_bytes / 1e6 / self.wall if self.wall else 0.0

    @property
    def ok(self) -> bool:
        """Every row of the file arrived."""
        return self.loaded == self.rows


def header_of(path: Path) -> list[str]:
    """The file's header fields (of the CSV inside, for a `.zip`)."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
            return next(csv.reader(io.TextIOWrapper(member, encoding="utf-8-sig", newline="")))
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


def _piped(data: Path, tool: list[str]) -> tuple[list[str], str]:
    """`tool` reading `data`'s CSV on its standard input when `data` is a `.zip` (`unzip -p |`),
    as the command to time; else `tool` itself. (The command, how the tool is named.)"""
    if data.suffix.lower() != ".zip":
        return tool, ""
    return ["bash", "-c", f"set -o pipefail; unzip -p {shlex.quote(str(data))} | {shlex.join(tool)}"], "unzip -p into "


def quiet_disk(server: PgServer | None = None) -> None:
    """Flush dirty pages before a timed run (and checkpoint the PostgreSQL server it loads
    into), so no run pays for an earlier one's writes."""
    os.sync()
    if server is not None:
        server.checkpoint()


def _failed(backend: str, tool: str, rows: int, size: int, timing: Timing) -> LoadResult:
    detail = (timing.stderr or timing.stdout).strip().splitlines()
    return LoadResult(backend, tool, rows, size, timing.wall, timing.peak_rss_kb, 0,
                      f"failed: {detail[-1] if detail else timing.returncode}")


# -- ingest-monitor ---------------------------------------------------------------------
def ingest_monitor(backend: str, url: str, work: Path, data: Path | list[Path], rows: int,
                   server: PgServer | None = None, *, tool: str = "ingest-monitor",
                   settings: dict[str, Any] | None = None) -> LoadResult:
    """`ingest-monitor ingest` of `data` (a file, or the parts of a snapshot set) dropped into a
    fresh workspace's folder (a fullload into `ref.companies`, the way a Companies House
    snapshot is configured); `server` is the PostgreSQL server of `url`, if that is where it
    loads; `settings`, more of the config."""
    ws = make_workspace(work, url, table=COMPANIES_TABLE, pattern="BasicCompanyData*", mode="fullload",
                        reference=True, settle=0.5, **(settings or {}))
    ws.run("init-db")
    dropped = []
    for source in data if isinstance(data, list) else [data]:
        dropped.append(ws.folder / source.name)
        shutil.copyfile(source, dropped[-1])
    size = sum(path.stat().st_size for path in dropped)
    quiet_disk(server)  # the copy's write-back is the dropping program's, not part of the load
    timing = run_timed(ws.command("ingest", *map(str, dropped)), cwd=ws.root, env=cli_env())
    if not timing.ok:
        return _failed(backend, tool, rows, size, timing)
    engine = ws.engine()
    try:
        loaded = sum(int(r["rows_loaded"] or 0) for r in ws.audit(engine) if r["status"] == "loaded")
    finally:
        engine.dispose()
    return LoadResult(backend, tool, rows, size, timing.wall, timing.peak_rss_kb, loaded)


# -- references -------------------------------------------------------------------------
def psql_copy(server: PgServer, dbname: str, data: Path, rows: int) -> LoadResult:
    """`psql -c "\\copy bench_ref FROM 'file' CSV HEADER"` into a fresh all-text table."""
    tool = "psql \\copy"
    if shutil.which("psql") is None:
        return LoadResult("postgresql", tool, rows, data.stat().st_size, 0.0, 0, 0, "psql not installed")
    server.execute(dbname, f"DROP TABLE IF EXISTS {REF_TABLE}")
    server.execute(dbname, text_table_ddl(REF_TABLE, header_of(data)))
    info = server.info
    quoted = "STDIN" if data.suffix.lower() == ".zip" else "'" + str(data).replace("'", "''") + "'"
    cmd, via = _piped(data, ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", info.get("host", "127.0.0.1"),
                             "-p", str(info.get("port", "5432")), "-U", info.get("user", "postgres"), "-d", dbname,
                             "-c", f"\\copy {REF_TABLE} FROM {quoted} CSV HEADER"])
    tool = via + tool
    env = cli_env()
    if info.get("password"):
        env["PGPASSWORD"] = info["password"]
    quiet_disk(server)
    timing = run_timed(cmd, env=env)
    if not timing.ok:
        return _failed("postgresql", tool, rows, data.stat().st_size, timing)
    loaded = server.count(dbname, REF_TABLE)
    server.execute(dbname, f"DROP TABLE {REF_TABLE}")
    return LoadResult("postgresql", tool, rows, data.stat().st_size, timing.wall, timing.peak_rss_kb, loaded)


def sqlite_import(work: Path, data: Path, rows: int) -> LoadResult:
    """The `sqlite3` shell's `.import --csv --skip 1` into a fresh all-text table."""
    tool = "sqlite3 .import"
    if shutil.which("sqlite3") is None:
        return LoadResult("sqlite", tool, rows, data.stat().st_size, 0.0, 0, 0, "sqlite3 shell not installed")
    db = _fresh_sqlite(work)
    ddl = run_timed(["sqlite3", str(db), text_table_ddl(REF_TABLE, header_of(data))])
    if not ddl.ok:
        return _failed("sqlite", tool, rows, data.stat().st_size, ddl)
    quoted = "/dev/stdin" if data.suffix.lower() == ".zip" else str(data).replace('"', '\\"')
    cmd, via = _piped(data, ["sqlite3", str(db), f'.import --csv --skip 1 "{quoted}" {REF_TABLE}'])
    tool = via + tool
    quiet_disk()
    timing = run_timed(cmd)
    if not timing.ok:
        return _failed("sqlite", tool, rows, data.stat().st_size, timing)
    loaded = sqlite_count(db, REF_TABLE)
    return LoadResult("sqlite", tool, rows, data.stat().st_size, timing.wall, timing.peak_rss_kb, loaded)


def pandas_to_sql(backend: str, url: str, work: Path, data: Path, rows: int, *,
                  server: PgServer | None = None, dbname: str | None = None, chunksize: int = 10_000) -> LoadResult:
    """`pandas.read_csv(chunksize=...)` + `DataFrame.to_sql(...)` (`bench.pandas_load`) into a
    fresh all-text table; `url` is the SQLAlchemy URL of the target database."""
    tool = "pandas.to_sql"
    try:
        import pandas  # noqa: F401  (only to say whether it is there; the load runs in its own process)
    except ImportError:
        return LoadResult(backend, tool, rows, data.stat().st_size, 0.0, 0, 0,
                          "pandas not installed (pip install -e .[bench])")
    ddl = text_table_ddl(REF_TABLE, header_of(data))
    if backend == "sqlite":
        db = _fresh_sqlite(work)
        import sqlite3

        with sqlite3.connect(db) as conn:
            conn.execute(ddl)
        url = f"sqlite:///{db}"
    else:
        assert server is not None and dbname is not None
        server.execute(dbname, f"DROP TABLE IF EXISTS {REF_TABLE}")
        server.execute(dbname, ddl)
    cmd = [sys.executable, "-m", "bench.pandas_load", url, REF_TABLE, str(data), "--chunksize", str(chunksize)]
    quiet_disk(server)
    timing = run_timed(cmd, env=cli_env(), cwd=Path(__file__).resolve().parent.parent)
    if not timing.ok:
        return _failed(backend, tool, rows, data.stat().st_size, timing)
    if backend == "sqlite":
        loaded = sqlite_count(db, REF_TABLE)
    else:
        assert server is not None and dbname is not None
        loaded = server.count(dbname, REF_TABLE)
        server.execute(dbname, f"DROP TABLE {REF_TABLE}")
    return LoadResult(backend, tool, rows, data.stat().st_size, timing.wall, timing.peak_rss_kb, loaded)


def _fresh_sqlite(work: Path) -> Path:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    return work / "ref.db"


def best(results: list[LoadResult]) -> LoadResult:
    """The fastest complete run (else the first), as the bench reports a tool."""
    complete = [r for r in results if r.ok and r.wall > 0]
    return min(complete, key=lambda r: r.wall) if complete else results[0]
