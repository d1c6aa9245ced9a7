"""The SQL Server rows of the bench (`python -m bench --backends mssql`, with `MSSQL_URL`).

Every tool loads the same 55-column file into a fresh database of the server at `--mssql-url`:

- ingest-monitor through its command line, once per driver: pyodbc with the URL's ODBC driver
  (FreeTDS here), pyodbc with ODBC Driver 18 for SQL Server when it is registered (and the URL
  names another), and mssql-python; on the benchmark's file and on the mixed-shape file;
- `pandas.to_sql` through pyodbc as written by most people, the same with `fast_executemany`
  (Microsoft's recommendation; FreeTDS crashes on it, which the table then says), and through
  mssql-python (which binds parameter arrays itself);
- `psql \\copy` into the PostgreSQL port of the same engine (`--mssql-pg-url`, for Babelfish):
  the floor of the engine underneath, no T-SQL on the way.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bench import loads
from bench.databases import PgServer
from bench.loads import REF_TABLE, LoadResult, header_of, quiet_disk
from bench.measure import run_timed
from bench.workspace import cli_env
from monitor.backends.mssql.connect import drop_database, is_freetds, mssql_engine

ODBC_18 = "ODBC Driver 18 for SQL Server"
DEFAULT_PANDAS_TIMEOUT = 7200.0
STOPPED = "stopped after"  # how a pandas run cut short by its timeout is noted


@dataclass(frozen=True)
class MssqlServer:
    """A SQL Server (or Babelfish) login allowed to CREATE DATABASE, at `url`."""

    url: str

    @property
    def parsed(self) -> URL:
        """The URL, `mssql://` meaning pyodbc."""
        parsed = make_url(self.url)
        return parsed.set(drivername="mssql+pyodbc") if parsed.drivername == "mssql" else parsed

    def driver_label(self) -> str:
        """`pyodbc (FreeTDS)` or `pyodbc (<ODBC driver>)` for the URL's driver."""
        driver = str(self.parsed.query.get("driver", "ODBC"))
        return "pyodbc (FreeTDS)" if is_freetds(self.parsed) else f"pyodbc ({driver})"

    def database_url(self, dbname: str, driver: str = "pyodbc") -> str:
        """The URL of `dbname` through `pyodbc` (the URL's ODBC driver), `odbc18` (pyodbc with
        ODBC Driver 18) or `mssqlpython`."""
        url = self.parsed.set(database=dbname)
        query = {k: v for k, v in url.query.items() if k.lower() not in ("driver", "tds_version")}
        if driver == "mssqlpython":
            url = url.set(drivername="mssql+mssqlpython", query=query)
        elif driver == "odbc18":
            url = url.set(drivername="mssql+pyodbc", query={**query, "driver": ODBC_18})
        return url.render_as_string(hide_password=False)

    def drivers(self) -> list[str]:
        """The drivers to run: the URL's, ODBC Driver 18 when registered and not the URL's, mssql-python."""
        import pyodbc

        other = ODBC_18 in pyodbc.drivers() and str(self.parsed.query.get("driver", "")) != ODBC_18
        return ["pyodbc", *(["odbc18"] if other else []), "mssqlpython"]

    def version(self) -> str:
        """The server's version banner, first line."""
        with self._admin() as conn:
            return str(conn.exec_driver_sql("SELECT @@VERSION").scalar()).splitlines()[0]

    @contextmanager
    def _admin(self) -> Iterator:
        engine = mssql_engine(self.parsed, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()

    @contextmanager
    def scratch(self) -> Iterator[str]:
        """A fresh database (its name), dropped afterwards (its sessions ended first)."""
        name = f"im_bench_{uuid.uuid4().hex[:10]}"
        with self._admin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE [{name}]")
        try:
            yield name
        finally:
            with self._admin() as conn:
                drop_database(conn, name)

    def execute(self, dbname: str, sql: str) -> None:
        """Run one statement in `dbname`, committed."""
        engine = mssql_engine(make_url(self.database_url(dbname)), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def count(self, dbname: str, table: str) -> int:
        """Rows in `table` of `dbname`."""
        engine = mssql_engine(make_url(self.database_url(dbname)))
        try:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql(f"SELECT COUNT_BIG(*) FROM [{table}]").scalar_one())
        finally:
            engine.dispose()


def text_table_tsql(table: str, columns: list[str]) -> str:
    """CREATE TABLE with every column NVARCHAR(max), names double-quoted as written."""
    names = ", ".join('"' + c.replace('"', '""') + '" NVARCHAR(max) NULL' for c in columns)
    return f'CREATE TABLE "{table}" ({names})'


def _label(server: MssqlServer, driver: str, shape: str = "") -> str:
    label = {"mssqlpython": "mssql-python", "odbc18": f"pyodbc ({ODBC_18})"}.get(driver, server.driver_label())
    return f"mssql, {label}" + (f", {shape} file" if shape else "")


def ingest_monitor(server: MssqlServer, driver: str, work: Path, data: Path, rows: int, shape: str = "") -> LoadResult:
    """`ingest-monitor ingest` of the file (a fullload into `ref.companies`) through `driver`."""
    with server.scratch() as dbname:
        result = loads.ingest_monitor("mssql", server.database_url(dbname, driver), work, data, rows)
    result.backend = _label(server, driver, shape)
    return result


def pandas_to_sql(server: MssqlServer, driver: str, work: Path, data: Path, rows: int, *,
                  fast_executemany: bool = False, shape: str = "",
                  timeout: float = DEFAULT_PANDAS_TIMEOUT) -> LoadResult:
    """`pandas.read_csv(chunksize)` + `to_sql` into a fresh all-text table through `driver`;
    a crash of the process (FreeTDS with `fast_executemany`) is reported as such, and a run
    stopped at `timeout` seconds as a bound: fewer than `rows / timeout` rows a second."""
    tool = "pandas.to_sql" + (" fast_executemany" if fast_executemany else "")
    backend, size = _label(server, driver, shape), data.stat().st_size
    with server.scratch() as dbname:
        server.execute(dbname, text_table_tsql(REF_TABLE, header_of(data)))
        cmd = [sys.executable, "-m", "bench.pandas_load", server.database_url(dbname, driver), REF_TABLE, str(data),
               "--chunksize", "10000", *(["--fast-executemany"] if fast_executemany else [])]
        quiet_disk()
        timing = run_timed(cmd, env=cli_env(), cwd=Path(__file__).resolve().parent.parent, timeout=timeout)
        if timing.returncode < 0 and timing.wall >= timeout:
            return LoadResult(backend, tool, rows, size, timing.wall, timing.peak_rss_kb, 0,
                              f"{STOPPED} {timeout:.0f} s: under {rows / timeout:,.0f} rows/s")
        if timing.returncode < 0:
            signal = -timing.returncode
            return LoadResult(backend, tool, rows, size, timing.wall, timing.peak_rss_kb, 0,
                              f"crashed (signal {signal})")
        if not timing.ok:
            return loads._failed(backend, tool, rows, size, timing)
        loaded = server.count(dbname, REF_TABLE)
    return LoadResult(backend, tool, rows, size, timing.wall, timing.peak_rss_kb, loaded)


def engine_floor(pg_url: str, data: Path, rows: int) -> LoadResult:
    """`psql \\copy` into the PostgreSQL port of the engine (Babelfish's own PostgreSQL)."""
    pg = PgServer(pg_url)
    with pg.scratch() as dbname:
        result = loads.psql_copy(pg, dbname, data, rows)
    result.tool = "psql \\copy (the engine's PostgreSQL port)"
    return result


def round_of_loads(server: MssqlServer, pg_url: str | None, work: Path, files: dict[str, Path], rows: int,
                   pandas_drivers: Collection[str], pandas_timeout: float = DEFAULT_PANDAS_TIMEOUT) -> list[LoadResult]:
    """One run of every SQL Server tool through each driver on each file (`""`: the benchmark's
    file); the engine floor counted for each driver's group; `pandas.to_sql` through the
    drivers in `pandas_drivers` (`MssqlServer.drivers` names), stopped after `pandas_timeout` seconds."""
    results: list[LoadResult] = []
    for shape, data in files.items():
        floor = engine_floor(pg_url, data, rows) if pg_url else None
        for driver in server.drivers():
            results.append(ingest_monitor(server, driver, work / f"im-{driver}", data, rows, shape))
            if driver in pandas_drivers:
                results.append(pandas_to_sql(server, driver, work, data, rows, shape=shape, timeout=pandas_timeout))
                if driver == "pyodbc":
                    results.append(pandas_to_sql(server, driver, work, data, rows, fast_executemany=True, shape=shape,
                                                 timeout=pandas_timeout))
            if floor is not None:
                results.append(LoadResult(_label(server, driver, shape), floor.tool, floor.rows, floor.size_bytes,
                                          floor.wall, floor.peak_rss_kb, floor.loaded, floor.note))
    return results


def describe(server: MssqlServer) -> str:
    """The server and the drivers, for the results file."""
    try:
        version = server.version()
    except Exception as exc:  # the section still reports what it could not reach
        version = f"not reachable ({type(exc).__name__})"
    freetds = subprocess.run(["sh", "-c", "tsql -C 2>/dev/null | grep -m1 Version"], capture_output=True,
                             text=True).stdout.strip()
    return f"SQL Server engine: {version}; {freetds or 'FreeTDS version unknown'}"


def verdicts(results: list[LoadResult]) -> list[str]:
    """Per driver: the mixed-shape file's rows/s against the clean file's (goal >= 0.8), and
    ingest-monitor against `pandas.to_sql` on each file (goal >= 10)."""
    mine = {r.backend: r for r in results if r.tool == "ingest-monitor"}
    pandas = {r.backend: r for r in results if r.tool == "pandas.to_sql"}
    lines = []
    for backend, clean in mine.items():
        mixed = mine.get(f"{backend}, mixed-shape file")
        if mixed and clean.ok and mixed.ok:
            ratio = mixed.rows_per_s / clean.rows_per_s
            lines.append(f"{backend}: the mixed-shape file at {ratio:.2f} of the clean file's rows/s "
                         f"(goal >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})")
        ref = pandas.get(backend)
        if ref and ref.ok and clean.ok:
            ratio = clean.rows_per_s / ref.rows_per_s
            lines.append(f"{backend}: ingest-monitor at {ratio:.1f}x pandas.to_sql "
                         f"(goal >= 10: {'met' if ratio >= 10 else 'NOT met'})")
        elif ref and ref.note.startswith(STOPPED) and clean.ok:  # its rate is at most rows / the time it had
            ratio = clean.rows_per_s / ref.rows_per_s
            lines.append(f"{backend}: ingest-monitor at more than {ratio:.1f}x pandas.to_sql, which did not finish "
                         f"in {ref.wall:.0f} s (goal >= 10: {'met' if ratio >= 10 else 'NOT shown'})")
        elif ref:
            lines.append(f"{backend}: no ratio to pandas.to_sql ({ref.note or 'incomplete run'})")
    return lines
