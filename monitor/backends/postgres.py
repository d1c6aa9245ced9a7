"""PostgreSQL: COPY for the rows, transactional DDL for an atomic swap."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy import Connection, text

from monitor.backends.base import BKP_SCHEMA, REF_SCHEMA, Backend
from monitor.naming import LOAD_ID_COLUMN


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
        """COPY ... FROM STDIN in CSV form, one buffer per batch."""
        names = [self.quote(name) for name in columns]
        force_null = f", FORCE_NULL ({', '.join(names)})" if "" in null_values and names else ""
        sql = (
            f"COPY {self.qualified(schema, table)} ({', '.join([*names, self.quote(LOAD_ID_COLUMN)])}) "
            f"FROM STDIN (FORMAT csv, NULL ''{force_null})"
        )
        tokens = {token for token in null_values if token}
        tag = str(int(load_id))
        total = 0
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
            for rows in batches:
                buffer = io.StringIO()
                writer = csv.writer(buffer, lineterminator="\n")
                for row in rows:
                    if tokens:
                        row = [None if value in tokens else value for value in row]
                    row.append(tag)
                    writer.writerow(row)
                copy.write(buffer.getvalue())
                total += len(rows)
        return total

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
