"""PostgreSQL: COPY for the rows, transactional DDL for an atomic swap."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from monitor.backends.base import BKP_SCHEMA, REF_SCHEMA, Backend
from monitor.fastpath import NotSimple, RawSource, attempted, copy_blocks, prefetched, raw_source
from monitor.naming import LOAD_ID_COLUMN

log = logging.getLogger("monitor.backends.postgres")
LOAD_ID_SETTING = "ingest_monitor.load_id"


def _literal(value: str) -> str:
    """A one-character SQL string literal (E'\\t' for a tab)."""
    return "E'\\t'" if value == "\t" else "'" + value.replace("'", "''") + "'"


class PostgresBackend(Backend):
    """PostgreSQL through psycopg 3."""

    name = "postgresql"
    default_schema = "public"

    def create_schemas(self, conn: Connection) -> None:
        """Create `ref` and `bkp`."""
        for schema in (REF_SCHEMA, BKP_SCHEMA):
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}"))

    def lock_target(self, conn: Connection, schema: str | None, table: str) -> None:
        """A transaction-scoped advisory lock named after the target."""
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"ingest-monitor:{schema}.{table}"},
        )

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
        """COPY ... FROM STDIN in CSV form. When the load offers its file (`monitor.fastpath`)
        its lines go to COPY as they are and the server parses them (the load id comes from
        the column's default); a file the fast path cannot take is loaded from the parsed
        batches, one buffer per batch."""
        raw = raw_source(batches, null_values)
        if raw is not None and len(columns) == raw.width:
            copied = self._copy_file(conn, schema, table, columns, raw, load_id)
            if copied is not None:
                return copied
        names = [self.quote(name) for name in columns]
        force_null = f", FORCE_NULL ({', '.join(names)})" if "" in null_values and names else ""
        sql = (
            f"COPY {self.qualified(schema, table)} ({', '.join([*names, self.quote(LOAD_ID_COLUMN)])}) "
            f"FROM STDIN (FORMAT csv, NULL ''{force_null})"
        )
        tokens = {token for token in null_values if token}
        tail = [str(int(load_id))]
        total = 0
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
            for rows in batches:
                buffer = io.StringIO()
                writerow = csv.writer(buffer, lineterminator="\n").writerow
                for row in rows:
                    writerow([None if value in tokens else value for value in row] + tail if tokens else row + tail)
                copy.write(buffer.getvalue())
                total += len(rows)
        return total

    def _copy_file(
        self, conn: Connection, schema: str | None, table: str, columns: list[str], raw: RawSource, load_id: int
    ) -> int | None:
        """The fast path: the file's lines into COPY under a savepoint. None (rolled back)
        when the file needs the general reader or the server refuses its text."""
        qualified = self.qualified(schema, table)
        names = [self.quote(name) for name in columns]
        sql = (
            f"COPY {qualified} ({', '.join(names)}) FROM STDIN "
            f"(FORMAT csv, DELIMITER {_literal(raw.fmt.delimiter)}, NULL '', FORCE_NULL ({', '.join(names)}))"
        )
        refused = (NotSimple, psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)
        total: int | None = None
        with conn.connection.driver_connection.cursor() as cursor:
            restore = self._load_id_default(conn, cursor, schema, table, load_id)
            if restore is None:
                return None
            with attempted(cursor.execute, raw, refused) as attempt:
                with prefetched(lambda: copy_blocks(raw)) as blocks, cursor.copy(sql) as copy:
                    for text, count in blocks:
                        copy.write(text)
                        attempt.read(count)
                total = cursor.rowcount
            if restore:
                cursor.execute(restore)
        return total

    def _load_id_default(
        self, conn: Connection, cursor: psycopg.Cursor, schema: str | None, table: str, load_id: int
    ) -> str | None:
        """Make `_load_id` default to this load's id; the SQL to run once the rows are in
        ("" for none), or None when the table cannot have it now (then rows go with the id).

        A table created in this transaction (a fullload's staging table) gets the id itself
        as its default, dropped again after the COPY. An older table (append) gets, once and
        for good, a default that reads a setting of the transaction; it is added in a short
        transaction of its own, given up if the table stays locked."""
        cursor.execute("SELECT set_config(%s, %s, true)", (LOAD_ID_SETTING, str(int(load_id))))
        found = cursor.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid), c.xmin = pg_current_xact_id()::xid "
            "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = %s "
            "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum WHERE c.oid = to_regclass(%s)",
            (LOAD_ID_COLUMN, self.qualified(schema, table)),
        ).fetchone()
        if found is None:
            return None
        default, created_here = found
        column = f"ALTER TABLE {self.qualified(schema, table)} ALTER COLUMN {self.quote(LOAD_ID_COLUMN)}"
        if created_here:
            cursor.execute(f"{column} SET DEFAULT {int(load_id)}")
            return f"{column} DROP DEFAULT"
        if default and LOAD_ID_SETTING in default:
            return ""
        try:
            with self.engine.begin() as side:
                side.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                side.exec_driver_sql(
                    f"{column} SET DEFAULT (NULLIF(current_setting('{LOAD_ID_SETTING}', true), ''))::bigint"
                )
        except DBAPIError as exc:
            log.info("%s.%s: no load-id default (%s); loading record by record", schema, table, exc.orig)
            return None
        return ""

    def replace_table(
        self, conn: Connection, schema: str, table: str, staging: str, keep_backups: int
    ) -> None:
        """Renames only, inside the caller's transaction: readers see the old or the new."""
        self.lock_target(conn, schema, table)
        if self.table_exists(conn, schema, table):
            if keep_backups:
                if self.table_exists(conn, BKP_SCHEMA, table):
                    if keep_backups > 1:
                        older = self.archive_backup_name(conn, table)
                        conn.execute(text(
                            f"ALTER TABLE {self.qualified(BKP_SCHEMA, table)} RENAME TO {self.quote(older)}"
                        ))
                    else:
                        self.drop_table(conn, BKP_SCHEMA, table)
                conn.execute(text(
                    f"ALTER TABLE {self.qualified(schema, table)} SET SCHEMA {self.quote(BKP_SCHEMA)}"
                ))
                self.prune_backups(conn, table, keep_backups)
            else:
                conn.execute(text(f"DROP TABLE {self.qualified(schema, table)}"))
        conn.execute(text(f"ALTER TABLE {self.qualified(schema, staging)} RENAME TO {self.quote(table)}"))
