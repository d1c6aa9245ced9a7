"""SQLite: the embedded default. `ref` and `bkp` are attached database files.

For `sqlite:///data/ingest.db` the reference tables live in `data/ingest.ref.db`
and the backups in `data/ingest.bkp.db`, attached as `ref` and `bkp` on every
connection, so `ref.companies` and `bkp.companies` read as on a server.
Write transactions are serialised in the process (SQLite has one writer).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from sqlalchemy import Connection, Engine, event, text

from monitor.backends.base import BKP_SCHEMA, REF_SCHEMA, Backend
from monitor.backends.sqlite_csv import CSV_MODULE, insert_csv
from monitor.fastpath import NotNative, NotSimple, RawSource, attempted, native_readable, raw_source, row_batches
from monitor.naming import LOAD_ID_COLUMN

BUSY_TIMEOUT_MS = 60_000
FAST_BATCH_ROWS = 2_000
# `ref` and `bkp` hold whole tables written in bulk and replaced together: large pages
# (SQLite's largest) make such writes and their WAL checkpoints markedly cheaper. The daemon's
# own tables in `main`, updated a row at a time, keep SQLite's default.
BULK_SCHEMAS = (REF_SCHEMA, BKP_SCHEMA)
BULK_PAGE_SIZE = 65_536


def attached_path(main: Path, schema: str) -> Path:
    """The file that holds `schema` beside the main database file."""
    return main.with_name(f"{main.stem}.{schema}{main.suffix or '.db'}")


class SqliteBackend(Backend):
    """The embedded default backend."""

    name = "sqlite"
    default_schema = "main"
    supports_leases = False
    write_options: ClassVar[dict[str, str]] = {"sqlite_begin": "IMMEDIATE"}

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._write_lock = threading.Lock()
        self._csv_reader: bool | None = None
        database = engine.url.database
        if not database or database == ":memory:":
            raise ValueError("SQLite needs a database file, e.g. sqlite:///data/ingest.db")
        self.path = Path(database)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "begin", self._on_begin)

    def _on_connect(self, dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # transactions are ours, DDL included
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        for schema in (REF_SCHEMA, BKP_SCHEMA):
            cursor.execute(f"ATTACH DATABASE ? AS {schema}", (str(attached_path(self.path, schema)),))
        for schema in ("main", REF_SCHEMA, BKP_SCHEMA):
            if schema in BULK_SCHEMAS:  # takes effect only while the file is new (empty)
                cursor.execute(f"PRAGMA {schema}.page_size = {BULK_PAGE_SIZE}")
            cursor.execute(f"PRAGMA {schema}.journal_mode = WAL")
            cursor.execute(f"PRAGMA {schema}.synchronous = FULL")
        cursor.close()

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

    def bulk_insert(
        self,
        conn: Connection,
        schema: str | None,
        table: str,
        columns: list[str],
        batches: Iterable[list[list[str]]],
        load_id: int,
        null_values: list[str],
    ) -> int:
        """executemany over a prepared INSERT; NULL tokens are mapped inside SQLite. When the
        load offers its file (`monitor.fastpath`), SQLite reads it itself (`monitor.backends.
        sqlite_csv`) or its lines are split without the csv module, each under a savepoint; a
        file neither can take is loaded from the parsed batches."""
        driver = conn.connection.driver_connection
        cursor = driver.cursor()
        value = "?"
        for token in null_values:
            value = f"NULLIF({value}, '{token.replace(chr(39), chr(39) * 2)}')"
        target = self.qualified(schema, table)
        names = ", ".join(self.quote(name) for name in [*columns, LOAD_ID_COLUMN])
        sql = f"INSERT INTO {target} ({names}) VALUES ({', '.join([value] * len(columns) + [str(int(load_id))])})"
        try:
            raw = raw_source(batches, null_values)
            if raw is not None and len(columns) == raw.width:
                copied = self._insert_file(driver, cursor, sql, f"INSERT INTO {target} ({names})", load_id, raw)
                if copied is not None:
                    return copied
            total = 0
            for rows in batches:
                cursor.executemany(sql, rows)
                total += len(rows)
            return total
        finally:
            cursor.close()

    def _insert_file(
        self, driver: sqlite3.Connection, cursor: sqlite3.Cursor, sql: str, into: str, load_id: int, raw: RawSource
    ) -> int | None:
        """The fast paths, each under a savepoint: SQLite reading the file, then its lines split
        in Python; None (rolled back) when the file needs the general reader."""
        if self._reads_csv(cursor) and native_readable(raw):
            with attempted(cursor.execute, raw, (NotSimple, NotNative)) as attempt:
                return insert_csv(driver, cursor, into, load_id, raw, attempt)
            if not isinstance(attempt.failed, NotNative):
                return None
        with attempted(cursor.execute, raw) as attempt:
            total = 0
            for rows in row_batches(raw, FAST_BATCH_ROWS):
                cursor.executemany(sql, rows)
                total += len(rows)
                attempt.read(len(rows))
            return total
        return None

    def _reads_csv(self, cursor: sqlite3.Cursor) -> bool:
        """Whether the SQLite library has the `vsv` CSV reader (the `sqlean` driver has it)."""
        if self._csv_reader is None:
            try:
                found = cursor.execute(f"SELECT 1 FROM pragma_module_list WHERE name = '{CSV_MODULE}'").fetchone()
            except self.engine.dialect.dbapi.Error:
                found = None
            self._csv_reader = found is not None
        return self._csv_reader

    def replace_table(
        self, conn: Connection, schema: str, table: str, staging: str, keep_backups: int
    ) -> None:
        """Copy the current table into `bkp`, then drop it and rename the staging table,
        all in one transaction (each attached file commits atomically)."""
        current = self.table_exists(conn, schema, table)
        if keep_backups and current:
            if self.table_exists(conn, BKP_SCHEMA, table):
                if keep_backups > 1:
                    older = self.archive_backup_name(conn, table)
                    conn.execute(text(
                        f"ALTER TABLE {self.qualified(BKP_SCHEMA, table)} RENAME TO {self.quote(older)}"
                    ))
                else:
                    self.drop_table(conn, BKP_SCHEMA, table)
            conn.execute(text(
                f"CREATE TABLE {self.qualified(BKP_SCHEMA, table)} AS "
                f"SELECT * FROM {self.qualified(schema, table)}"
            ))
            self.prune_backups(conn, table, keep_backups)
        if current:
            conn.execute(text(f"DROP TABLE {self.qualified(schema, table)}"))
        conn.execute(text(f"ALTER TABLE {self.qualified(schema, staging)} RENAME TO {self.quote(table)}"))
