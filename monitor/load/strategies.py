"""What a load does to its target: `fullload` replaces it, `append` adds to it.

A strategy decides what happens to the target; the backend decides how the
bytes travel. `prepare` runs in a short transaction of its own (DDL), `load`
inside the transaction that also marks the file `loaded`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from monitor.backends import Backend
from monitor.backends.target import Target


@dataclass(frozen=True)
class LoadJob:
    """One file's rows on their way into one target."""

    load_id: int
    schema: str
    table: str
    columns: list[str] = field(default_factory=list)
    null_values: list[str] = field(default_factory=lambda: [""])
    types: dict[str, str] = field(default_factory=dict)  # column -> declared kind (monitor.load.column_types)
    # fullload: run in the load's transaction under the target's lock just before the swap;
    # raises to refuse it (a snapshot older than the one in place: `monitor.load.snapshots`)
    before_swap: Callable[[Connection], None] | None = None

    def target(self, table: str | None = None, *, fresh: bool = False) -> Target:
        """The table this job writes now: its target, or (`table`) a staging table of it."""
        return Target(self.schema, table or self.table, self.columns, self.load_id, self.null_values,
                      fresh=fresh, destination=self.table)


# How a file's rows reach a table: (conn, target) -> rows written (`monitor.load.route`).
RowWriter = Callable[[Connection, Target], int]


class Strategy(ABC):
    """A write disposition."""

    name: str

    def prepare(self, backend: Backend, job: LoadJob) -> None:
        """Make the target ready before the load transaction (nothing by default)."""
        return None

    @abstractmethod
    def load(self, conn: Connection, backend: Backend, job: LoadJob, write: RowWriter) -> int:
        """Write the file's rows inside `conn`'s transaction (`write` carries them into the
        table it is given); return how many were written."""

    @abstractmethod
    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        """After a crash: did this load's data commit? (Its rows carry its load id.)"""


class FullLoad(Strategy):
    """Load into a staging table, then swap it in; the old table goes to `bkp`."""

    name = "fullload"

    def __init__(self, keep_backups: int = 1) -> None:
        self.keep_backups = keep_backups

    def load(self, conn: Connection, backend: Backend, job: LoadJob, write: RowWriter) -> int:
        staging = backend.staging_name(job.table, job.load_id)
        backend.drop_table(conn, job.schema, staging)
        backend.create_table(conn, job.schema, staging, job.columns, job.types)
        count = write(conn, job.target(staging, fresh=True))
        if job.before_swap is not None:
            backend.lock_target(conn, job.schema, job.table)
            job.before_swap(conn)
        backend.replace_table(conn, job.schema, job.table, staging, self.keep_backups)
        return count

    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        return (backend.table_exists(conn, job.schema, job.table)
                and backend.load_id_of(conn, job.schema, job.table) == job.load_id)


class Append(Strategy):
    """Add the rows to the target, creating it or adding new columns first."""

    name = "append"

    def prepare(self, backend: Backend, job: LoadJob) -> None:
        with backend.transaction() as conn:
            backend.lock_target(conn, job.schema, job.table)
            if not backend.table_exists(conn, job.schema, job.table):
                backend.create_table(conn, job.schema, job.table, job.columns, job.types)
                return
            present = set(backend.columns_of(conn, job.schema, job.table))
            missing = [name for name in job.columns if name not in present]
            if missing:
                backend.add_columns(conn, job.schema, job.table, missing, job.types)

    def load(self, conn: Connection, backend: Backend, job: LoadJob, write: RowWriter) -> int:
        return write(conn, job.target())

    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        return backend.rows_of_load(conn, job.schema, job.table, job.load_id) > 0


def strategy_for(mode: str, keep_backups: int = 1) -> Strategy:
    """The strategy configured for a target."""
    if mode == "fullload":
        return FullLoad(keep_backups)
    if mode == "append":
        return Append()
    raise ValueError(f"unknown mode {mode!r}")
