"""The fullload swap's cost: the rename swap the daemon used before (the staging table renamed
into `ref`, the old table moved to `bkp`) against the swap that keeps the table (the rows
moved: the old rows copied to `bkp`, the table emptied and filled from the staging table,
`monitor.load.write.backups`), at N rows, on PostgreSQL and SQLite, in-process on the daemon's own
backend objects. On PostgreSQL the row move is also timed with `TRUNCATE` for `DELETE`.

    python -m bench.swap --rows 1000000 --backends sqlite,postgresql,mssql [--pg-url URL] [--mssql-url URL]

Each swap runs on a table of N rows and a staging table of N rows (9 text columns of about
120 bytes a row, plus `_load_id`), both made by SQL before the clock starts; a CHECKPOINT
(PostgreSQL) or a WAL checkpoint (SQLite) first. Timed: the swap's transaction to its commit,
and for SQLite the backup's rename after it (`leftovers.clear`), as a load pays it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from bench.databases import PgServer
from monitor.backends import Backend, open_backend
from monitor.backends.merging import Place
from monitor.backends.mssql.connect import drop_database, mssql_engine
from monitor.backends.swap import SwapForms
from monitor.catalog import BKP_SCHEMA, REF_SCHEMA
from monitor.load.setup import init_db
from monitor.load.write.backups import swap_in
from monitor.load.write.leftovers import clear

TABLE = "companies"
COLUMNS = [f"c{i}" for i in range(9)]
DEFAULT_PG = os.environ.get("INGEST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def fill(backend: Backend, table: str, rows: int, load_id: int) -> None:
    """`ref.<table>` of `rows` rows of text made by the database itself."""
    with backend.transaction() as conn:
        backend.drop_table(conn, REF_SCHEMA, table)
        backend.create_table(conn, REF_SCHEMA, table, COLUMNS)
        values = ", ".join(f"'value {i} of row ' || n" for i in range(len(COLUMNS)))
        names = ", ".join([*COLUMNS, "_load_id"])
        series = {"postgresql": "generate_series(1, :rows) AS n",
                  "sqlite": "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :rows) "
                            "SELECT n FROM s)",
                  "mssql": "(SELECT TOP (:rows) CAST(ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS varchar(20)) AS n "
                           "FROM sys.all_columns a CROSS JOIN sys.all_columns b CROSS JOIN sys.all_columns c) AS s"}
        if backend.name == "mssql":
            values = values.replace("||", "+")
        conn.execute(text(f"INSERT INTO {backend.qualified(REF_SCHEMA, table)} ({names}) "
                          f"SELECT {values}, {load_id} FROM {series[backend.name]}"), {"rows": rows})


def checkpoint(backend: Backend) -> None:
    with backend.reading() as conn:
        conn.exec_driver_sql({"postgresql": "CHECKPOINT", "mssql": "CHECKPOINT"}.get(
            backend.name, "PRAGMA wal_checkpoint(TRUNCATE)"))
        conn.commit()


def rename_swap(backend: Backend, staging: str) -> None:
    """The swap before: `bkp.<t>` dropped, `ref.<t>` moved to `bkp` (PostgreSQL: SET SCHEMA;
    SQLite: copied and dropped, one file to another; SQL Server: `SELECT INTO` and dropped),
    the staging table renamed in."""
    with backend.transaction() as conn:
        backend.drop_table(conn, BKP_SCHEMA, TABLE)
        backend.replace_table(conn, REF_SCHEMA, TABLE, staging, keep_old=True)


def keeping_swap(backend: Backend, staging: str) -> None:
    """The swap now, as a load runs it: in the load's transaction, then what its end clears."""
    with backend.transaction() as conn:
        swap_in(backend, conn, REF_SCHEMA, TABLE, staging, 1)
    clear(backend, REF_SCHEMA, TABLE, [2], 1)


class TruncateForms(SwapForms):
    """PostgreSQL's row move with TRUNCATE (ACCESS EXCLUSIVE for the whole copy) for DELETE."""

    def replace_rows(self, conn: Connection, target: Place, staging: Place, columns: list[str]) -> None:
        b = self.backend
        names = ", ".join(b.quote(name) for name in columns)
        conn.exec_driver_sql(f"TRUNCATE {b.qualified(target.schema, target.table)}")
        conn.exec_driver_sql(f"INSERT INTO {b.qualified(target.schema, target.table)} ({names}) "
                             f"SELECT {names} FROM {b.qualified(staging.schema, staging.table)}")


def truncating_swap(backend: Backend, staging: str) -> None:
    forms = backend.swap_forms
    type(backend).swap_forms = TruncateForms
    try:
        keeping_swap(backend, staging)
    finally:
        type(backend).swap_forms = forms


def timed(backend: Backend, rows: int, swap: Callable[[Backend, str], None]) -> float:
    """Seconds of one swap of `rows` rows into a table of `rows` rows (made first, not timed)."""
    staging = backend.staging_name(TABLE, 2)
    with backend.transaction() as conn:
        backend.drop_table(conn, BKP_SCHEMA, TABLE)
    fill(backend, TABLE, rows, 1)
    fill(backend, staging, rows, 2)
    checkpoint(backend)
    start = time.perf_counter()
    swap(backend, staging)
    seconds = time.perf_counter() - start
    with backend.reading() as conn:
        got = conn.exec_driver_sql(f"SELECT COUNT(*), MAX(_load_id) FROM {backend.qualified(REF_SCHEMA, TABLE)}").one()
        kept = conn.exec_driver_sql(f"SELECT COUNT(*), MAX(_load_id) FROM {backend.qualified(BKP_SCHEMA, TABLE)}").one()
    assert tuple(got) == (rows, 2) and tuple(kept) == (rows, 1), (got, kept)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.swap", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable; default 1000000)")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--mssql-url", default=os.environ.get("MSSQL_URL", ""), help="a login that may CREATE DATABASE")
    parser.add_argument("--out", type=Path, help="append the table to this file")
    args = parser.parse_args(argv)
    lines = ["| database | rows | rename swap (before) s | keeping swap (now) s | now / before | "
             "TRUNCATE instead of DELETE s | load average 1 min (before, after) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name in args.backends.split(","):
        for rows in args.rows or [1_000_000]:
            before_load = os.getloadavg()[0]
            with _database(name, args.pg_url, args.mssql_url) as backend:
                old = timed(backend, rows, rename_swap)
                new = timed(backend, rows, keeping_swap)
                trunc = f"{timed(backend, rows, truncating_swap):.1f}" if name == "postgresql" else "-"
            line = (f"| {backend.label} | {rows:,} | {old:.1f} | {new:.1f} | {new / old:.1f} | {trunc} | "
                    f"{before_load:.1f}, {os.getloadavg()[0]:.1f} |")
            print(line, flush=True)
            lines.append(line)
    if args.out:
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


class _database:
    """The backend on a scratch database (a PostgreSQL or SQL Server database made and dropped;
    SQLite files in a temporary folder)."""

    def __init__(self, name: str, pg_url: str, mssql_url: str) -> None:
        self.name, self.pg_url, self.mssql_url = name, pg_url, mssql_url

    def __enter__(self) -> Backend:
        if self.name == "postgresql":
            server = PgServer(self.pg_url)
            self._scratch = server.scratch()
            url = server.dbname_url(self._scratch.__enter__())
        elif self.name == "mssql":
            self.db = f"im_bench_{uuid.uuid4().hex[:10]}"
            self._admin = mssql_engine(make_url(self.mssql_url), isolation_level="AUTOCOMMIT")
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE [{self.db}]")
            url = make_url(self.mssql_url).set(database=self.db).render_as_string(hide_password=False)
        else:
            self._dir = tempfile.TemporaryDirectory(prefix="swap-bench-", dir=os.environ.get("INGEST_BENCH_DIR"))
            url = f"sqlite:///{self._dir.name}/ingest.db"
        self.backend = open_backend(url)
        init_db(self.backend)
        return self.backend

    def __exit__(self, *exc: object) -> None:
        self.backend.dispose()
        if self.name == "postgresql":
            self._scratch.__exit__(None, None, None)
        elif self.name == "mssql":
            with self._admin.connect() as conn:
                drop_database(conn, self.db)
            self._admin.dispose()
        else:
            self._dir.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
