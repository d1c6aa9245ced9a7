"""SQLite: the embedded default. `ref` and `bkp` are attached database files.

For `sqlite:///data/ingest.db` the reference tables live in `data/ingest.ref.db`
and the backups in `data/ingest.bkp.db`, attached as `ref` and `bkp` on every
connection, so `ref.companies` and `bkp.companies` read as on a server.
Write transactions are serialised in the process (SQLite has one writer).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Connection, Engine, Integer, MetaData, Table, create_engine, event, text
from sqlalchemy.engine import URL

from monitor.backends.base import Backend
from monitor.backends.merging import SEQ_COLUMN, WHITESPACE, MergeSql, Place, staging_name
from monitor.backends.rawfile.attempt import attempted
from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.rawfile.split import row_batches
from monitor.backends.registry import register
from monitor.backends.sqlite.csv_reader import CSV_MODULE, NotNative, driver_module, insert_csv, native_readable
from monitor.backends.sqlite.options import SqliteOptions
from monitor.backends.swap import SwapForms
from monitor.backends.target import FileLoaded, FileRead, NotThisFile, RawFile, Target
from monitor.backends.views import ViewSql
from monitor.catalog import BKP_SCHEMA, HISTORY_SUFFIX, LOAD_ID_COLUMN, REF_SCHEMA

BUSY_TIMEOUT_MS = 60_000
FAST_BATCH_ROWS = 2_000
# `ref` and `bkp` hold whole tables written in bulk and replaced together: large pages
# (SQLite's largest) make such writes and their WAL checkpoints markedly cheaper. The daemon's
# own tables in `main`, updated a row at a time, keep SQLite's default.
BULK_SCHEMAS = (REF_SCHEMA, BKP_SCHEMA)
BULK_PAGE_SIZE = 65_536


class SqliteMergeSql(MergeSql):
    """SQLite's forms: `IS NOT` compares NULL-safely (in every SQLite since 3.x); `trim`."""

    null_safe_differs = "{left} IS NOT {right}"
    blank = "trim({column}, {spaces}) = ''"

    def spaces(self) -> str:
        return "'" + WHITESPACE + "'"


def attached_path(main: Path, schema: str) -> Path:
    """The file that holds `schema` beside the main database file."""
    return main.with_name(f"{main.stem}.{schema}{main.suffix or '.db'}")


class SqliteSwapForms(SwapForms):
    """`ref` and `bkp` are files that commit one by one in WAL mode: the swap commits in steps,
    `bkp` first (`monitor.load.write.backups`). Readers never block a WAL writer: nothing to wait for."""

    commits_in_steps = True

    def commit_step(self, conn: Connection) -> None:
        driver = self.backend.dbapi_connection(conn)
        driver.execute("COMMIT")
        driver.execute("BEGIN IMMEDIATE")


class SqliteBackend(Backend):
    """The embedded default backend."""

    name = "sqlite"
    label = "SQLite"
    default_schema = "main"
    max_columns = 2000  # SQLITE_MAX_COLUMN as built by default
    supports_leases = False
    reads_files = True
    reads_files_by = "SQLite's CSV reader"
    embedded = True
    checks_value_types = False  # a column's type is an affinity: a value of another type is kept
    options_model = SqliteOptions
    write_options: ClassVar[dict[str, str]] = {"sqlite_begin": "IMMEDIATE"}
    merge_sql = SqliteMergeSql
    swap_forms = SqliteSwapForms
    view_sql = ViewSql(
        folder="sqlite",
        ago="datetime('now', '-{n} {unit}s')",
        day="date({column})",
        create="CREATE VIEW IF NOT EXISTS {name} AS\n{body}",
    )
    schema_prologue = (
        "-- SQLite: ref and bkp are attached files beside the main one:\n"
        "-- ATTACH DATABASE 'data/ingest.ref.db' AS ref; ATTACH DATABASE 'data/ingest.bkp.db' AS bkp;\n"
    )

    def __init__(self, engine: Engine, *, heap_limit_mb: int = SqliteOptions().heap_limit_mb) -> None:
        super().__init__(engine)
        self._write_lock = threading.Lock()
        self._csv_reader: bool | None = None
        self.heap_limit = heap_limit_mb << 20
        database = engine.url.database
        if not database or database == ":memory:":
            raise ValueError("SQLite needs a database file, e.g. sqlite:///data/ingest.db")
        self.path = Path(database)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "begin", self._on_begin)

    @classmethod
    def from_url(cls, url: URL, options: BaseModel, *, pool_size: int) -> SqliteBackend:
        """On the driver of `backend.sqlite.driver` (one file: no pool to size)."""
        assert isinstance(options, SqliteOptions)
        return cls(create_engine(url, module=driver_module(options.driver),
                                 connect_args={"check_same_thread": False, "timeout": 60}),
                   heap_limit_mb=options.heap_limit_mb)

    def _on_connect(self, dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # transactions are ours, DDL included
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA soft_heap_limit = {self.heap_limit}")  # the process's: each connection has 4 caches
        for schema in (REF_SCHEMA, BKP_SCHEMA):
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (str(attached_path(self.path, schema)),))
        for schema in ("main", REF_SCHEMA, BKP_SCHEMA):
            if schema in BULK_SCHEMAS:  # takes effect only while the file is new (empty)
                cursor.execute(f"PRAGMA {schema}.page_size = {BULK_PAGE_SIZE}")
            cursor.execute(f"PRAGMA {schema}.journal_mode = WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous = FULL")
        cursor.close()

    def identity(self) -> str | None:
        """The database file's real path (links and relative paths resolved)."""
        return f"sqlite:{os.path.realpath(self.path)}"

    def write_refusal(self, exc: BaseException) -> str | None:
        """SQLite's "attempt to write a readonly database", named."""
        said = str(getattr(exc, "orig", None) or exc)
        if "readonly database" in said or "read-only" in said:
            return f"the database file {self.path} (or its ref/bkp file) is read-only: {said.splitlines()[0]}"
        return None

    def write_problem(self) -> str | None:
        """A database file, or its folder, this process may not write."""
        for place in (self.path, *(attached_path(self.path, s) for s in (REF_SCHEMA, BKP_SCHEMA)), self.path.parent):
            if place.exists() and not os.access(place, os.W_OK):
                return f"the database file {place} is read-only for this user: no file can load"
        return None

    def commits_with_state(self, schema: str | None) -> bool:
        """In WAL mode each attached file commits on its own (`main`, with the daemon's
        tables, first): only `main` commits together with the file states."""
        return schema in (None, "main")

    @staticmethod
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN " + conn.get_execution_options().get("sqlite_begin", "DEFERRED"))

    def create_schemas(self, conn: Connection) -> None:
        """`ref` and `bkp` are attached on connect; touching them creates the files."""
        for schema in (REF_SCHEMA, BKP_SCHEMA):
            conn.execute(text(f"SELECT COUNT(*) FROM {schema}.sqlite_master"))

    def _insert_sql(self, target: Target) -> tuple[str, str]:
        """(`INSERT INTO t (columns, _load_id)`, the same with a VALUES row of parameters in
        which every null token becomes NULL inside SQLite)."""
        value = "?"
        for token in target.null_values:
            value = f"NULLIF({value}, '{token.replace(chr(39), chr(39) * 2)}')"
        names = ", ".join(self.quote(name) for name in [*target.columns, LOAD_ID_COLUMN])
        into = f"INSERT INTO {self.qualified(target.schema, target.table)} ({names})"
        values = ", ".join([value] * len(target.columns) + [str(int(target.load_id))])
        return into, f"{into} VALUES ({values})"

    def bulk_insert(self, conn: Connection, target: Target, batches: Iterable[list[list[str]]]) -> int:
        """executemany over a prepared INSERT; null tokens are mapped inside SQLite."""
        cursor = self.dbapi_connection(conn).cursor()
        _, sql = self._insert_sql(target)
        try:
            total = 0
            for rows in batches:
                cursor.executemany(sql, rows)
                total += len(rows)
            return total
        finally:
            cursor.close()

    def load_file(self, conn: Connection, target: Target, raw: RawFile) -> FileRead:
        """SQLite reading the file itself (`csv_reader`: plain UTF-8 with the sqlean driver),
        else its lines split in Python without the csv module; each under a savepoint."""
        driver = self.dbapi_connection(conn)
        cursor = driver.cursor()
        into, sql = self._insert_sql(target)
        try:
            why_not_native = self._why_not_native(cursor, raw)
            if not why_not_native:
                with attempted(cursor.execute, raw, (NotSimple, NotNative)) as native:
                    return FileLoaded(insert_csv(driver, cursor, into, target.load_id, raw, native),
                                      f"read by {self.reads_files_by}")
                if not isinstance(native.failed, NotNative):
                    return NotThisFile(native.refusal)
                why_not_native = native.refusal
            with attempted(cursor.execute, raw) as split:
                total = 0
                for rows in row_batches(raw, FAST_BATCH_ROWS):
                    cursor.executemany(sql, rows)
                    total += len(rows)
                    split.read(len(rows))
                return FileLoaded(total, f"reading the file in Python ({why_not_native})")
            return NotThisFile(split.refusal)
        finally:
            cursor.close()

    def _why_not_native(self, cursor: sqlite3.Cursor, raw: RawFile) -> str:
        """Why SQLite cannot read this file itself ("" when it can)."""
        if not self._reads_csv(cursor):
            return "this SQLite library has no CSV reader"
        if not native_readable(raw):
            return "not plain UTF-8 text with a usual delimiter"
        return ""

    def _reads_csv(self, cursor: sqlite3.Cursor) -> bool:
        """Whether the SQLite library has the `vsv` CSV reader (the `sqlean` driver has it)."""
        if self._csv_reader is None:
            try:
                found = cursor.execute(f"SELECT 1 FROM pragma_module_list WHERE name = '{CSV_MODULE}'").fetchone()
            except Exception:  # the driver's own error class (sqlean or sqlite3)
                found = None
            self._csv_reader = found is not None
        return self._csv_reader

    def move_to_backup(self, conn: Connection, schema: str, table: str) -> None:
        """Copied into `bkp` and dropped (each attached file commits atomically)."""
        conn.execute(text(
            f"CREATE TABLE {self.qualified(BKP_SCHEMA, table)} AS SELECT * FROM {self.qualified(schema, table)}"
        ))
        self.drop_table(conn, schema, table)

    # -- merge -------------------------------------------------------------------------
    @classmethod
    def history_of(cls, schema: str | None, table: str) -> Place:
        """Beside its table, in the same file (`main.contacts__history`): attached files commit
        one by one, and the replaced versions must commit with the merge that replaced them."""
        return Place(schema or cls.default_schema, table + HISTORY_SUFFIX)

    @classmethod
    def staging_of(cls, schema: str | None, table: str, load_id: int) -> Place:
        """In `temp`: the connection's own file, never journalled with the data."""
        return Place("temp", staging_name(table, load_id))

    def staging_table(self, place: Place, columns: list[Column[Any]]) -> Table:
        """`_seq` is the rowid (INTEGER PRIMARY KEY): numbered as the rows arrive."""
        return Table(place.table, MetaData(), Column(SEQ_COLUMN, Integer(), primary_key=True), *columns,
                     Column(LOAD_ID_COLUMN, BigInteger()), schema=place.schema)


register(SqliteBackend)
