"""SQL Server's part in the fullload swap: the previous rows copied into `bkp` (`SELECT INTO`),
the table emptied and filled again (`DELETE`, `INSERT ... SELECT`) in the load's transaction,
so its schema-bound views, grants, indexes, foreign keys and extended properties stay. The
table lock is asked for under a short `SET LOCK_TIMEOUT` (error 1222 when a reader holds
it), retried."""

from __future__ import annotations

from contextlib import suppress

from sqlalchemy import Connection

from monitor.backends.merging import Place
from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.backends.swap import SwapForms

LOCK_TRY_MS = 200
LOCK_TIMED_OUT = "1222"


class MssqlSwapForms(SwapForms):
    """A table lock held to the end of the transaction (`TABLOCKX, HOLDLOCK`)."""

    def try_lock(self, conn: Connection, schema: str, table: str, *, exclusive: bool) -> None:
        conn.exec_driver_sql(f"SET LOCK_TIMEOUT {LOCK_TRY_MS}")
        try:
            name = self.backend.qualified(schema, table)
            conn.exec_driver_sql(f"SELECT TOP (1) 1 FROM {name} WITH (TABLOCKX, HOLDLOCK)")
        finally:
            with suppress(Exception):
                conn.exec_driver_sql("SET LOCK_TIMEOUT -1")

    def is_lock_wait(self, exc: BaseException) -> bool:
        text = str(getattr(exc, "orig", None) or exc)
        return LOCK_TIMED_OUT in text or "Lock request time out" in text

    def copy_table(self, conn: Connection, source: Place, copy: Place) -> None:
        conn.exec_driver_sql(S.select_into(source.schema or "dbo", source.table, copy.schema or "dbo", copy.table))
