"""`python -m bench`: ingest-monitor next to the tools a user would pick instead.

    python -m bench --rows 1000000 --repeat 5 --big  # the README's table (about 30 minutes)
    python -m bench --rows 2000 --quick                # a smoke run (seconds)
    python -m bench --rows 500000 --big                # also peak RSS on a ~1 GB file (minutes)

Sections, per backend (SQLite, PostgreSQL):

- loads: one Companies-House-shaped file (55 columns) loaded by `ingest-monitor
  ingest` end to end and by the references in the same run: `psql \\copy` and the
  `sqlite3` shell's `.import` (the floor for each database), and
  `pandas.read_csv(chunksize)` + `to_sql` (what most people write): rows/s, MB/s,
  peak RSS, wall time, ratio. With `--repeat N` each tool runs N times,
  interleaved, and its fastest run is reported (the machine may be shared).
- detection latency: the daemon running with `--settle` seconds of settle time,
  files written into its folder; from each file's last write (mtime) to its claim
  and to `loaded`: median and p99.
- burst: `--burst-files` files of `--burst-rows` rows moved in at once, `--burst-workers`
  workers: files per second until all are loaded, against a shell loop of the database's own loader per file.
- memory: peak RSS of `ingest-monitor ingest` at two file sizes (and ~1 GB with `--big`).
- snapshot (`--big`): the full-size snapshot (`--big-rows`, 5,000,000 rows, ~2.5 GB) plain and
  zipped by `ingest-monitor ingest` alone: rows/s, peak RSS. Alone:
  `--big --skip loads,latency,burst,memory,sets,merge`.
- sets: the same rows as a Companies House 7-part set (`...-part1_7.csv` ... `part7_7.csv`, loaded
  as one snapshot) and as one file, both by `ingest-monitor ingest`: wall time and rows/s.
- merge: an enrichment export of `--merge-rows` rows (10 % changed, 10 % new) merged on its
  e-mail into a table of as many rows, by `ingest-monitor ingest` and by hand (the bulk
  tool into a staging table, then the same statements; `bench.merge`), `--repeat` times.

The table is printed and written to `bench/results/<date>.md` (or `--results-dir`).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from bench import busy, loads, merge
from bench.burst_loops import psql_loop, sqlite_loop
from bench.daemon_runs import Burst, Latency, burst, detection_latency
from bench.databases import DEFAULT_PG_URL, PgServer
from bench.generate import companies, mixed
from bench.loads import LoadResult
from bench.mssql import DEFAULT_PANDAS_TIMEOUT, MssqlServer, round_of_loads
from bench.results_file import SHAPES, loadavg, results_markdown
from monitor.demo.ch_parts import PARTS, write_companies_house_parts

BACKENDS = ("sqlite", "postgresql")
OPTIONAL_BACKENDS = ("mssql",)  # with --mssql-url (MSSQL_URL): SQL Server or Babelfish
RESULTS_DIR = Path(__file__).resolve().parent / "results"
GIGABYTE = 1_000_000_000
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@/\s]+@")  # user:password@ in a URL
T = TypeVar("T")


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000, help="rows of the 55-column file (default 200000)")
    p.add_argument("--repeat", type=int, default=1, help="runs per tool, interleaved; the fastest is reported")
    p.add_argument("--quick", action="store_true", help="smoke run: few latency files, a small burst")
    p.add_argument("--big", action="store_true",
                   help="also load a ~1 GB file for peak RSS, and the full-size snapshot plain and zipped (slow)")
    p.add_argument("--big-rows", type=int, default=5_000_000, help="rows of the --big snapshot (5000000, ~2.5 GB)")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql,mssql")
    p.add_argument("--mssql-url", default=os.environ.get("MSSQL_URL", ""),
                   help="SQL Server login allowed to CREATE DATABASE (default $MSSQL_URL), for --backends mssql")
    p.add_argument("--mssql-pg-url", default=os.environ.get("INGEST_BENCH_MSSQL_PG", ""),
                   help="the PostgreSQL port of the same engine (Babelfish), for the psql \\copy floor")
    p.add_argument("--mssql-rows", type=int, default=50_000, help="rows of the SQL Server loads (default 50000)")
    p.add_argument("--mssql-pandas", default="pyodbc,odbc18,mssqlpython",
                   help="the SQL Server drivers pandas.to_sql runs through (default pyodbc,odbc18,mssqlpython; "
                        "pyodbc is the URL's ODBC driver)")
    p.add_argument("--pandas-timeout", type=float, default=DEFAULT_PANDAS_TIMEOUT,
                   help="seconds a SQL Server pandas.to_sql run may take; one stopped then is reported as a bound "
                        "on its rows/s (default 7200)")
    p.add_argument("--pg-url", default=os.environ.get("INGEST_BENCH_PG", DEFAULT_PG_URL),
                   help="PostgreSQL server the bench creates (and drops) its databases on")
    p.add_argument("--settle", type=float, default=None, help="daemon settle time for the latency run (1.0)")
    p.add_argument("--latency-files", type=int, default=None, help="files dropped for the latency run (20)")
    p.add_argument("--burst-files", type=int, default=None, help="files in the burst (1000)")
    p.add_argument("--burst-rows", type=int, default=1000, help="rows in each burst file (1000)")
    p.add_argument("--burst-workers", type=int, default=10)
    p.add_argument("--merge-rows", type=int, default=None, help="rows of the merge's table and export (--rows)")
    p.add_argument("--skip", default="",
                   help="comma-separated sections to skip: loads,mixed,zip,pandas,latency,burst,memory,snapshot,sets,"
                        "merge")
    p.add_argument("--pg-split", default="",
                   help="comma-separated connection counts: PostgreSQL loads also run by ingest-monitor with "
                        "backend.postgresql.split_connections set so, each its own row (e.g. 1,2)")
    p.add_argument("--busy", type=int, default=0,
                   help="processes spinning a core each during the whole run, as another job would (e.g. 1)")
    p.add_argument("--workdir", type=Path, help="where files and databases go (default: a temporary folder)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return p


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class Bench:
    """One run of every section."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        unknown = set(self.backends) - set(BACKENDS) - set(OPTIONAL_BACKENDS)
        if unknown:
            raise SystemExit(f"unknown backend(s): {', '.join(sorted(unknown))}")
        self.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
        self.server = PgServer(args.pg_url)
        if "mssql" in self.backends and not args.mssql_url:
            raise SystemExit("--backends mssql needs --mssql-url (or MSSQL_URL)")
        self.mssql = MssqlServer(args.mssql_url) if "mssql" in self.backends else None
        self.loads: list[LoadResult] = []
        self.shape_loads: dict[str, list[LoadResult]] = {}
        self.latency: list[Latency] = []
        self.bursts: list[Burst] = []
        self.memory: list[LoadResult] = []
        self.snapshot: list[LoadResult] = []
        self.mssql_loads: list[LoadResult] = []
        self.sets: list[LoadResult] = []
        self.merges: list[merge.MergeResult] = []

    # -- helpers ----------------------------------------------------------------------------
    def _url(self, backend: str, name: str, dbname: str | None = None) -> str:
        if backend == "sqlite":
            return f"sqlite:///{self.work / name / 'db' / 'ingest.db'}"
        assert dbname is not None
        return self.server.dbname_url(dbname)

    def _ingest(self, backend: str, data: Path | list[Path], rows: int, name: str,
                tool: str = "ingest-monitor") -> LoadResult:
        if backend == "sqlite":
            return loads.ingest_monitor(backend, self._url(backend, name), self.work / name, data, rows, tool=tool)
        with self.server.scratch() as dbname:
            return loads.ingest_monitor(backend, self._url(backend, name, dbname), self.work / name, data, rows,
                                        server=self.server, tool=tool)

    def data_file(self, rows: int) -> Path:
        """The 55-column file of `rows` rows (generated once per size)."""
        path = self.work / "data" / f"BasicCompanyData-{rows}.csv"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _say(f"generating {path.name}")
            companies(path, rows, seed=1)
        return path

    # -- sections ---------------------------------------------------------------------------
    def shape_file(self, rows: int, shape: str) -> Path:
        """The mixed-shape file, or the benchmark file zipped (`SHAPES`), generated once."""
        path = self.work / "data" / (f"BasicCompanyData-mixed-{rows}.csv" if shape == "mixed"
                                     else f"BasicCompanyData-{rows}.zip")
        if not path.exists():
            _say(f"generating {path.name}")
            (mixed if shape == "mixed" else functools.partial(companies, zipped=True))(path, rows, seed=1)
        return path

    def run_loads(self) -> None:
        """Every tool on every backend, `--repeat` times, interleaved; the best run each. Then
        the other shapes (`SHAPES`), ingest-monitor and the database's own loader on the same bytes."""
        rows = self.args.rows
        files = {"": self.data_file(rows)}
        files.update((shape, self.shape_file(rows, shape)) for shape in SHAPES if shape not in self.skip)
        runs: dict[tuple[str, str, str], list[LoadResult]] = {}
        for attempt in range(self.args.repeat):
            for backend in self.backends:
                for shape, data in files.items():
                    _say(f"loads: {backend}, {shape or 'the benchmark file'}, run {attempt + 1} of {self.args.repeat}")
                    for result in self._load_round(backend, data, rows, pandas=not shape):
                        runs.setdefault((shape, result.backend, result.tool), []).append(result)
        self.loads = [loads.best(results) for (shape, *_), results in runs.items() if not shape]
        for (shape, *_), results in runs.items():
            if shape:
                self.shape_loads.setdefault(shape, []).append(loads.best(results))

    def run_mssql_loads(self) -> None:
        """The SQL Server rows (`bench.mssql`), `--repeat` times; the best run each."""
        assert self.mssql is not None
        rows = self.args.mssql_rows
        files = {"": self.data_file(rows)}
        if "mixed" not in self.skip:
            files["mixed-shape"] = self.shape_file(rows, "mixed")
        runs: dict[tuple[str, str], list[LoadResult]] = {}
        pandas = set() if "pandas" in self.skip else set(self.args.mssql_pandas.split(","))
        for attempt in range(self.args.repeat):
            _say(f"loads: mssql, {rows} rows, run {attempt + 1} of {self.args.repeat}")
            for result in round_of_loads(self.mssql, self.args.mssql_pg_url or None, self.work / "mssql", files,
                                         rows, pandas, self.args.pandas_timeout):
                runs.setdefault((result.backend, result.tool), []).append(result)
        self.mssql_loads = [loads.best(results) for results in runs.values()]

    def _load_round(self, backend: str, data: Path, rows: int, *, pandas: bool = True) -> list[LoadResult]:
        results = [self._ingest(backend, data, rows, "im")]
        pandas = pandas and "pandas" not in self.skip
        if backend == "sqlite":
            results.append(loads.sqlite_import(self.work / "ref-sqlite", data, rows))
            if pandas:
                results.append(loads.pandas_to_sql(backend, "", self.work / "pandas-sqlite", data, rows))
            return results
        for count in (int(n) for n in self.args.pg_split.split(",") if n.strip()):
            with self.server.scratch() as dbname:
                results.append(loads.ingest_monitor(
                    backend, self._url(backend, "im", dbname), self.work / "im", data, rows, server=self.server,
                    tool=f"ingest-monitor ({count} connection{'s' if count > 1 else ''})",
                    settings={"backend": {"postgresql": {"split_connections": count}}}))
        with self.server.scratch() as dbname:
            results.append(loads.psql_copy(self.server, dbname, data, rows))
            if pandas:
                results.append(loads.pandas_to_sql(backend, self.server.dbname_url(dbname), self.work, data, rows,
                                                   server=self.server, dbname=dbname))
        return results

    def run_latency(self) -> None:
        """Detection latency with the daemon running."""
        settle = self.args.settle if self.args.settle is not None else (0.5 if self.args.quick else 1.0)
        files = self.args.latency_files or (3 if self.args.quick else 20)
        for backend in self.backends:
            _say(f"detection latency: {backend}, {files} files, settle {settle} s")
            self.latency.append(self._with_db(backend, "latency", functools.partial(
                detection_latency, backend, settle=settle, files=files)))

    def run_burst(self) -> None:
        """The burst of small files."""
        files = self.args.burst_files or (20 if self.args.quick else 1000)
        for backend in self.backends:
            _say(f"burst: {backend}, {files} files, {self.args.burst_workers} workers")
            loop = sqlite_loop(self.work / "burst-ref") if backend == "sqlite" else psql_loop(self.server)
            self.bursts.append(self._with_db(backend, "burst", functools.partial(
                burst, backend, files=files, rows=self.args.burst_rows, workers=self.args.burst_workers,
                settle=0.5, loop=loop)))

    def run_memory(self) -> None:
        """Peak RSS at a quarter of the size, at the size (from the loads), and at ~1 GB."""
        rows = self.args.rows
        sizes = [max(rows // 4, 1)]
        if self.args.big:
            per_row = self.data_file(rows).stat().st_size / rows
            sizes.append(int(GIGABYTE / per_row) + 1)
        for size in sizes:
            data = self.data_file(size)
            for backend in self.backends:
                _say(f"memory: {backend}, {size} rows ({data.stat().st_size / 1e6:.0f} MB)")
                self.memory.append(self._ingest(backend, data, size, "memory"))
            if size != rows:
                data.unlink()
        self.memory += [r for r in self.loads if r.tool == "ingest-monitor"]
        self.memory.sort(key=lambda r: (r.backend, r.size_bytes))

    def run_snapshot(self) -> None:
        """With `--big`: the full-size snapshot (`--big-rows`), plain and zipped, by ingest-monitor alone."""
        rows = self.args.big_rows
        files = {"plain": self.data_file(rows), "zip": self.shape_file(rows, "zip")}
        for backend in self.backends:
            for kind, data in files.items():
                _say(f"snapshot: {backend}, {rows} rows, {kind} ({data.stat().st_size / 1e6:.0f} MB)")
                self.snapshot.append(self._ingest(backend, data, rows, "snapshot", tool=kind))
        if not self.args.workdir:
            for data in files.values():
                data.unlink()

    def run_sets(self) -> None:
        """The 7-part set against the same rows as one file, `--repeat` times interleaved; the best of each."""
        rows = self.args.rows
        one = self.data_file(rows)
        parts = self.work / "data" / f"parts-{rows}"
        if not parts.exists():
            _say(f"generating the {PARTS}-part set of {rows} rows")
            write_companies_house_parts(parts, "2026-11-01", rows, seed=1, zipped=False)
        files = sorted(parts.iterdir())
        runs: dict[tuple[str, str], list[LoadResult]] = {}
        for attempt in range(self.args.repeat):
            for backend in self.backends:
                _say(f"sets: {backend}, run {attempt + 1} of {self.args.repeat}")
                for data, tool in ((one, "one file"), (files, f"{PARTS}-part set")):
                    result = self._ingest(backend, data, rows, "sets", tool=tool)
                    runs.setdefault((backend, tool), []).append(result)
        self.sets = [loads.best(results) for results in runs.values()]
    def run_merge(self) -> None:
        """The merge by ingest-monitor and by hand, `--repeat` times, interleaved; the best run each."""
        rows = self.args.merge_rows or self.args.rows
        base, export = merge.files(self.work / "data", rows)
        want = merge.expected(rows)
        runs: dict[tuple[str, str], list[merge.MergeResult]] = {}
        for attempt in range(self.args.repeat):
            for backend in self.backends:
                _say(f"merge: {backend}, {rows} rows, run {attempt + 1} of {self.args.repeat}")
                for result in self._merge_round(backend, base, export, rows):
                    runs.setdefault((result.backend, result.tool), []).append(result)
        self.merges = [merge.best(results, want) for results in runs.values()]

    def _merge_round(self, backend: str, base: Path, export: Path, rows: int) -> list[merge.MergeResult]:
        work = self.work / "merge"
        if backend == "sqlite":
            return [merge.ingest_monitor(backend, self._url(backend, "merge"), work, base, export, rows),
                    merge.sqlite_by_hand(self.work / "merge-by-hand", base, export, rows)]
        with self.server.scratch() as dbname:
            ours = merge.ingest_monitor(backend, self._url(backend, "merge", dbname), work, base, export, rows,
                                        server=self.server)
        with self.server.scratch() as dbname:
            return [ours, merge.psql_by_hand(self.server, dbname, self.work / "merge-by-hand", base, export, rows)]

    def _with_db(self, backend: str, name: str, fn: Callable[[str, Path], T]) -> T:
        work = self.work / name
        if backend == "sqlite":
            return fn(self._url(backend, name), work)
        with self.server.scratch() as dbname:
            return fn(self._url(backend, name, dbname), work)


def _without_passwords(argv: Sequence[str]) -> list[str]:
    """The arguments as the results file shows them: a URL's password as `***`."""
    return [_URL_PASSWORD.sub(r"\1***@", arg) for arg in argv]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench`."""
    args = parser().parse_args(argv)
    command = "python -m bench " + shlex.join(_without_passwords(sys.argv[1:] if argv is None else list(argv)))
    started, clock, before = datetime.now(UTC), time.monotonic(), loadavg()
    temporary = None
    if args.workdir:
        work = args.workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        temporary = tempfile.TemporaryDirectory(prefix="im-bench-")
        work = Path(temporary.name)
    bench = Bench(args, work)
    try:
        with busy.spinning(args.busy):
            if bench.mssql is not None:
                bench.run_mssql_loads()
                bench.backends.remove("mssql")  # the other sections run on sqlite and postgresql only
            if bench.backends and "loads" not in bench.skip:
                bench.run_loads()
            if "latency" not in bench.skip:
                bench.run_latency()
            if "burst" not in bench.skip:
                bench.run_burst()
            if "memory" not in bench.skip:
                bench.run_memory()
            if args.big and "snapshot" not in bench.skip:
                bench.run_snapshot()
            if "sets" not in bench.skip:
                bench.run_sets()
            if "merge" not in bench.skip:
                bench.run_merge()
    finally:
        if temporary is not None:
            temporary.cleanup()
    text = results_markdown(bench, command, started, time.monotonic() - clock, before)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{started:%Y-%m-%d}.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {out}")
    return 0
