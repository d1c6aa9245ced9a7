"""What a backend contributes to the fullload swap that keeps the table
(`monitor.load.write.backups`): its lock taken with a short timeout, its row move, and
whether its files commit one by one. The defaults hold where readers never block the writer
and one transaction spans every schema."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection

from monitor.backends.merging import Place


class SwapBackend(Protocol):
    """What the swap's forms use of their backend."""

    def qualified(self, schema: str | None, table: str) -> str: ...

    def quote(self, name: str) -> str: ...

    def dbapi_connection(self, conn: Connection) -> Any: ...


SWAP_MARK = "__swap_"  # bkp.<t>__swap_<id>: the previous rows, copied by the swap of load <id>


class SwapForms:
    """How one database takes part in the swap (`Backend.swap_forms`)."""

    commits_in_steps = False  # the target's file and `bkp` commit one by one (`commit_step`)

    def __init__(self, backend: SwapBackend) -> None:
        self.backend = backend

    def try_lock(self, conn: Connection, schema: str, table: str, *, exclusive: bool) -> None:
        """Take the lock the swap needs on a table now, raising soon (`is_lock_wait`) while a
        reader holds it; `exclusive` for a change of its columns or name."""
        return None

    def is_lock_wait(self, exc: BaseException) -> bool:
        """True for the error `try_lock` raises when it gave up waiting."""
        return False

    def commit_step(self, conn: Connection) -> None:
        """Commit what the swap did so far and go on in a new transaction (nothing by default)."""
        return None

    def copy_table(self, conn: Connection, source: Place, copy: Place) -> None:
        """A new table `copy` holding every row of `source`."""
        b = self.backend
        conn.exec_driver_sql(f"CREATE TABLE {b.qualified(copy.schema, copy.table)} AS "
                             f"SELECT * FROM {b.qualified(source.schema, source.table)}")

    def drop_column(self, conn: Connection, place: Place, column: str) -> None:
        """Drop a column the new snapshot no longer has."""
        conn.exec_driver_sql(f"ALTER TABLE {self.backend.qualified(place.schema, place.table)} "
                             f"DROP COLUMN {self.backend.quote(column)}")

    def replace_rows(self, conn: Connection, target: Place, staging: Place, columns: list[str]) -> None:
        """Every row of `target` replaced by those of `staging` (readers see one or the other)."""
        b = self.backend
        names = ", ".join(b.quote(name) for name in columns)
        conn.exec_driver_sql(f"DELETE FROM {b.qualified(target.schema, target.table)}")
        conn.exec_driver_sql(f"INSERT INTO {b.qualified(target.schema, target.table)} ({names}) "
                             f"SELECT {names} FROM {b.qualified(staging.schema, staging.table)}")
