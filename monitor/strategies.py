"""What a load does to its target: `fullload` replaces it, `append` adds to it.

A strategy decides what happens to the target; the backend decides how the
bytes travel. `prepare` runs in a short transaction of its own (DDL), `load`
inside the transaction that also marks the file `loaded`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from monitor.backends import Backend


@dataclass(frozen=True)
class LoadJob:
    """One file's rows on their way into one target."""

    load_id: int
    schema: str
    table: str
    columns: list[str] = field(default_factory=list)
    null_values: list[str] = field(default_factory=lambda: [""])
    types: dict[str, str] = field(default_factory=dict)  # column -> declared kind (monitor.types)


# How rows reach a table: (conn, schema, table, batches) -> rows written. The default is the
# backend's bulk_insert; careful mode (monitor.isolation) passes one that isolates refused rows.
Inserter = Callable[[Connection, "str | None", str, Iterable[Any]], int]


def _insert(
    conn: Connection, backend: Backend, job: LoadJob, table: str, batches: Iterable[Any], insert: Inserter | None
) -> int:
    if insert is not None:
        return insert(conn, job.schema, table, batches)
    return backend.bulk_insert(conn, job.schema, table, job.columns, batches, job.load_id, job.null_values)


class Strategy(ABC):
    """A write disposition."""

    name: str

    def prepare(self, backend: Backend, job: LoadJob) -> None:
        """Make the target ready before the load transaction (nothing by default)."""
        return None

    @abstractmethod
    def load(
        self, conn: Connection, backend: Backend, job: LoadJob, batches: Iterable[Any], insert: Inserter | None = None
    ) -> int:
        """Write the rows inside `conn`'s transaction (through `insert` when given); return
        how many were written."""

    @abstractmethod
    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        """After a crash: did this load's data commit? (Its rows carry its load id.)"""


class FullLoad(Strategy):
    """Load into a staging table, then swap it in; the old table goes to `bkp`."""

    name = "fullload"

    def __init__(self, keep_backups: int = 1) -> None:
        self.keep_backups = keep_backups

    def load(
        self, conn: Connection, backend: Backend, job: LoadJob, batches: Iterable[Any], insert: Inserter | None = None
    ) -> int:
        staging = backend.staging_name(job.table, job.load_id)
        backend.drop_table(conn, job.schema, staging)
        backend.create_table(conn, job.schema, staging, job.columns, job.types)
        count = _insert(conn, backend, job, staging, batches, insert)
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

    def load(
        self, conn: Connection, backend: Backend, job: LoadJob, batches: Iterable[Any], insert: Inserter | None = None
    ) -> int:
        return _insert(conn, backend, job, job.table, batches, insert)

    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        return backend.rows_of_load(conn, job.schema, job.table, job.load_id) > 0


def strategy_for(mode: str, keep_backups: int = 1) -> Strategy:
    """The strategy configured for a target."""
    if mode == "fullload":
        return FullLoad(keep_backups)
    if mode == "append":
        return Append()
    raise ValueError(f"unknown mode {mode!r}")
