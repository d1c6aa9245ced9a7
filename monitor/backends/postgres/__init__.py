"""PostgreSQL: COPY for the rows, transactional DDL for an atomic swap."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable
from typing import Any

import psycopg
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Connection, Identity, MetaData, Table, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from monitor.backends.base import Backend
from monitor.backends.idle_ping import ping_when_idle
from monitor.backends.merging import SEQ_COLUMN, MergePlan, MergeSql, Place, staging_name
from monitor.backends.names import SYSTEM_COLUMNS
from monitor.backends.postgres import lock_waits, writable
from monitor.backends.postgres.copy_text import copy_blocks
from monitor.backends.postgres.options import PostgresOptions
from monitor.backends.postgres.parallel_copy import copy_in_parallel
from monitor.backends.postgres.swap import PostgresSwapForms
from monitor.backends.rawfile.attempt import attempted, prefetched
from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.registry import register
from monitor.backends.target import FileLoaded, FileRead, NotThisFile, RawFile, Target
from monitor.backends.views import ViewSql
from monitor.catalog import BKP_SCHEMA, LOAD_ID_COLUMN, REF_SCHEMA

log = logging.getLogger("monitor.backends.postgres")
LOAD_ID_SETTING = "ingest_monitor.load_id"
ROW_OVER_A_LIMIT = "54000"  # program_limit_exceeded
REFUSED = (NotSimple, psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)  # not this file


class PostgresMergeSql(MergeSql):
    """PostgreSQL's forms: the replacing time in UTC, as the daemon writes every time."""

    now_utc = "(now() AT TIME ZONE 'UTC')"


def _literal(value: str) -> str:
    """A one-character SQL string literal (E'\\t' for a tab)."""
    return "E'\\t'" if value == "\t" else "'" + value.replace("'", "''") + "'"


class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"
    label = "PostgreSQL"
    url_aliases = ("postgres",)
    default_driver = "postgresql+psycopg"
    options_model = PostgresOptions
    default_schema = "public"
    default_port = 5432
    max_identifier_bytes = 63  # NAMEDATALEN - 1: longer names are cut, silently
    max_columns = 1600
    reserved_column_names = SYSTEM_COLUMNS
    reads_files = True
    reads_files_by = "COPY from its lines"
    feeds_parsed_lines = True  # COPY takes them as text, parsed in Python (`copy_text`)
    refuses_reserved_column_names = True  # "column name ... conflicts with a system column name"
    fills_in_parallel = True
    view_sql = ViewSql(
        folder="postgres",
        ago="(now() AT TIME ZONE 'UTC') - INTERVAL '{n} {unit}s'",
        day="CAST({column} AS date)",
        create="CREATE OR REPLACE VIEW {name} AS\n{body}",
    )
    schema_prologue = "CREATE SCHEMA IF NOT EXISTS ref;\nCREATE SCHEMA IF NOT EXISTS bkp;\n"
    merge_sql = PostgresMergeSql
    swap_forms = PostgresSwapForms

    @classmethod
    def from_url(cls, url: URL, options: BaseModel, *, pool_size: int) -> PostgresBackend:
        """A pool of `pool_size` connections (half as many more on demand); a large fullload
        file split over `backend.postgresql.split_connections` (2 by default, 1 on one core)."""
        assert isinstance(options, PostgresOptions)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size // 2)
        ping_when_idle(engine)
        backend = cls(engine)
        backend.split_connections = options.split_connections or min(2, os.cpu_count() or 1)
        backend.split_min_bytes = options.split_min_bytes
        return backend

    def create_schemas(self, conn: Connection) -> None:
        """Create `ref` and `bkp`."""
        for schema in (REF_SCHEMA, BKP_SCHEMA):
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"))

    def columns_of(self, conn: Connection, schema: str | None, table: str) -> list[str]:
        """The table's column names, in order, in one catalog query (none: no such table)."""
        rows = conn.execute(text(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = coalesce(:schema, current_schema()) "
            "AND c.relname = :table AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"),
            {"schema": schema, "table": table})
        return [str(name) for (name,) in rows]

    def lock_target(self, conn: Connection, schema: str | None, table: str) -> None:
        """A transaction-scoped advisory lock named after the target."""
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"ingest-monitor:{schema}.{table}"},
        )

    def identity(self) -> str | None:
        """The cluster's system identifier, the server's port and the database's name."""
        with self.reading() as conn:
            return writable.identity(conn)

    def write_refusal(self, exc: BaseException) -> str | None:
        """Read-only (SQL state 25006) or permission denied (42501), named."""
        return writable.refusal(exc)

    def write_problem(self) -> str | None:
        """A standby, a read-only database, or a role that may not create tables or write ours."""
        with self.reading() as conn:
            return writable.problem(conn, (self.default_schema, REF_SCHEMA, BKP_SCHEMA), "ingest_files")

    def session_of(self, conn: Connection) -> str | None:
        """The backend process id of `conn`'s session (psycopg knows it: no round trip)."""
        return str(self.dbapi_connection(conn).info.backend_pid)

    def lock_waits(self, sessions: list[str]) -> dict[str, str]:
        """Each session waiting for a lock, with the lock and its holder (`lock_waits`)."""
        with self.reading() as conn:
            return lock_waits.lock_waits(conn, sessions)

    def is_data_error(self, exc: BaseException) -> bool:
        """PEP 249's data errors, and a row over a limit of the server (SQL state 54000,
        program_limit_exceeded: a row too big for a page, an index row too long), which
        psycopg reports as an operational error."""
        orig = getattr(exc, "orig", None) or exc
        return super().is_data_error(exc) or getattr(orig, "sqlstate", None) == ROW_OVER_A_LIMIT

    def bulk_insert(self, conn: Connection, target: Target, batches: Iterable[list[list[str]]]) -> int:
        """COPY ... FROM STDIN in CSV form, one buffer per batch."""
        names = [self.quote(name) for name in target.columns]
        force_null = f", FORCE_NULL ({', '.join(names)})" if "" in target.null_values and names else ""
        sql = (
            f"COPY {self.qualified(target.schema, target.table)} "
            f"({', '.join([*names, self.quote(LOAD_ID_COLUMN)])}) FROM STDIN (FORMAT csv, NULL ''{force_null})"
        )
        tokens = {token for token in target.null_values if token}
        tail = [str(int(target.load_id))]
        total = 0
        with self.dbapi_connection(conn).cursor() as cursor, cursor.copy(sql) as copy:
            for rows in batches:
                buffer = io.StringIO()
                writerow = csv.writer(buffer, lineterminator="\n").writerow
                for row in rows:
                    writerow([None if value in tokens else value for value in row] + tail if tokens else row + tail)
                copy.write(buffer.getvalue())
                total += len(rows)
        return total

    def load_file(self, conn: Connection, target: Target, raw: RawFile) -> FileRead:
        """The file's lines into COPY under a savepoint (the server parses them; the load id
        comes from the column's default). `NotThisFile`, rolled back, when the file needs the
        general reader or the server refuses its text."""
        sql = self.file_copy_sql(target, raw)
        with self.dbapi_connection(conn).cursor() as cursor:
            restore = self._load_id_default(cursor, target)
            if restore is None:
                return NotThisFile(f"{target.key}: its load-id default cannot be set now (the table is busy)")
            with attempted(cursor.execute, raw, REFUSED) as attempt:
                utf8 = cursor.connection.info.encoding == "utf-8"  # else bytes are decoded again
                parsed = 0
                with prefetched(lambda: copy_blocks(raw)) as blocks, cursor.copy(sql) as copy:
                    for block, count, by_line in blocks:
                        copy.write(block if utf8 or isinstance(block, str) else block.decode("utf-8"))
                        attempt.read(count)
                        parsed += count if by_line else 0
                how = f"read by {self.reads_files_by}" + (
                    f" ({parsed:,} records parsed line by line in Python)" if parsed else "")
                loaded = FileLoaded(cursor.rowcount, how)
            if restore:
                cursor.execute(restore)
        return loaded if attempt.failed is None else NotThisFile(attempt.refusal)

    def file_copy_sql(self, target: Target, raw: RawFile) -> str:
        """`COPY` of the file's columns (not `_load_id`, which comes from its default) in CSV form."""
        names = [self.quote(name) for name in target.columns]
        return (f"COPY {self.qualified(target.schema, target.table)} ({', '.join(names)}) FROM STDIN "
                f"(FORMAT csv, DELIMITER {_literal(raw.fmt.delimiter)}, NULL '', FORCE_NULL ({', '.join(names)}))")

    def load_file_split(self, target: Target, raw: RawFile, connections: int) -> FileRead:
        """The file's records over `connections` connections at once into a committed table
        (`parallel_copy`); `NotThisFile`, every connection rolled back, as `load_file` says it."""
        setting = (LOAD_ID_SETTING, str(int(target.load_id)))
        return copy_in_parallel(self.engine, self.file_copy_sql(target, raw), setting, raw, connections, REFUSED)

    def _load_id_default(self, cursor: psycopg.Cursor, target: Target) -> str | None:
        """Make `_load_id` default to this load's id; the SQL to run once the rows are in
        ("" for none), or None when the table cannot have it now (then rows go with the id).

        A fresh table (a fullload's staging table, created in this transaction) gets the id
        itself as its default, dropped again after the COPY. An older table (append) gets,
        once and for good, a default that reads a setting of the transaction; it is added in
        a short transaction of its own, given up if the table stays locked."""
        load_id = int(target.load_id)
        cursor.execute("SELECT set_config(%s, %s, true)", (LOAD_ID_SETTING, str(load_id)))
        column = f"ALTER TABLE {self.qualified(target.schema, target.table)} ALTER COLUMN {self.quote(LOAD_ID_COLUMN)}"
        if target.fresh:
            cursor.execute(f"{column} SET DEFAULT {load_id}")
            return f"{column} DROP DEFAULT"
        found = cursor.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = to_regclass(%s) AND a.attname = %s",
            (self.qualified(target.schema, target.table), LOAD_ID_COLUMN),
        ).fetchone()
        if found is None:
            return None
        if found[0] and LOAD_ID_SETTING in found[0]:
            return ""
        try:
            with self.engine.begin() as side:
                side.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                side.exec_driver_sql(self._setting_default(target.schema, target.table))
        except DBAPIError as exc:
            log.info("%s: no load-id default (%s); loading record by record", target.key, exc.orig)
            return None
        return ""

    def _setting_default(self, schema: str | None, table: str) -> str:
        """`_load_id` defaults to the load id each transaction sets (`LOAD_ID_SETTING`)."""
        return (f"ALTER TABLE {self.qualified(schema, table)} ALTER COLUMN {self.quote(LOAD_ID_COLUMN)} "
                f"SET DEFAULT (NULLIF(current_setting('{LOAD_ID_SETTING}', true), ''))::bigint")

    def share_for_filling(self, conn: Connection, schema: str | None, table: str) -> None:
        """The load-id default that reads each transaction's setting, made with the table, so
        that parallel COPYs need no ALTER TABLE (which would make them wait on each other)."""
        conn.exec_driver_sql(self._setting_default(schema, table))

    def move_to_backup(self, conn: Connection, schema: str, table: str) -> None:
        """`ALTER TABLE ... SET SCHEMA bkp`: a rename, inside the caller's transaction."""
        conn.execute(text(f"ALTER TABLE {self.qualified(schema, table)} SET SCHEMA {self.quote(BKP_SCHEMA)}"))

    # -- merge -------------------------------------------------------------------------
    @classmethod
    def staging_of(cls, schema: str | None, table: str, load_id: int) -> Place:
        """A temporary table (`pg_temp`): the session's own, never written to the WAL."""
        return Place("pg_temp", staging_name(table, load_id))

    def staging_table(self, place: Place, columns: list[Column[Any]]) -> Table:
        """`CREATE TEMPORARY TABLE ... ON COMMIT DROP`, `_seq` an identity column."""
        return Table(place.table, MetaData(), Column(SEQ_COLUMN, BigInteger(), Identity()), *columns,
                     Column(LOAD_ID_COLUMN, BigInteger()), prefixes=["TEMPORARY"], postgresql_on_commit="DROP")

    def index_staging(self, conn: Connection, plan: MergePlan) -> None:
        """`ANALYZE` (a temporary table has no statistics until then): the joins on the key
        then hash the staged rows rather than loop over them."""
        self.run_sql(conn, f"ANALYZE {self.qualified(plan.staging.schema, plan.staging.table)}")


register(PostgresBackend)
