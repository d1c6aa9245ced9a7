"""PostgreSQL's part in the fullload swap: the rows move in one transaction (`DELETE`, then
`INSERT ... SELECT`), which takes `ROW EXCLUSIVE` on the table, a lock no reader's
`ACCESS SHARE` conflicts with: readers keep reading the previous rows (MVCC) until the swap
commits, and never queue behind it. A change of columns and the rotation of `bkp` take
`ACCESS EXCLUSIVE`; every lock is asked for with a short `lock_timeout`, retried. A foreign
key that points at the table holds through the swap when it is `DEFERRABLE` and the new rows
have every key it needs."""

from __future__ import annotations

from sqlalchemy import Connection

from monitor.backends.merging import Place
from monitor.backends.swap import SwapForms

LOCK_TRY_MS = 200
LOCK_NOT_AVAILABLE = "55P03"


class PostgresSwapForms(SwapForms):
    """`LOCK TABLE` under `SET LOCAL lock_timeout`; the savepoint around it undoes both."""

    def try_lock(self, conn: Connection, schema: str, table: str, *, exclusive: bool) -> None:
        mode = "ACCESS EXCLUSIVE" if exclusive else "ROW EXCLUSIVE"
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TRY_MS}ms'")
        conn.exec_driver_sql(f"LOCK TABLE {self.backend.qualified(schema, table)} IN {mode} MODE")
        conn.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")

    def is_lock_wait(self, exc: BaseException) -> bool:
        return getattr(getattr(exc, "orig", None), "sqlstate", None) == LOCK_NOT_AVAILABLE

    def replace_rows(self, conn: Connection, target: Place, staging: Place, columns: list[str]) -> None:
        """Deferrable constraints (a foreign key declared `DEFERRABLE` that points at the table)
        are checked once the new rows are in, not between the delete and the insert."""
        conn.exec_driver_sql("SET CONSTRAINTS ALL DEFERRED")
        super().replace_rows(conn, target, staging, columns)
        conn.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
