"""What a load does to its target: `fullload` replaces it, `append` adds to it, `merge`
updates it on a key.

A strategy decides what happens to the target; the backend decides how the
bytes travel. `prepare` runs in a short transaction of its own (DDL), `load`
inside the transaction that also marks the file `loaded`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, NoSuchTableError

from monitor.backends import Backend
from monitor.backends.merging import MergeCounts, Place
from monitor.backends.target import Target
from monitor.errors import first_line
from monitor.load.write import backups, merge_steps
from monitor.load.write.readers import SwapWait


@dataclass(frozen=True)
class LoadJob:
    """One file's rows on their way into one target."""

    load_id: int
    schema: str
    table: str
    columns: list[str] = field(default_factory=list)
    null_values: list[str] = field(default_factory=lambda: [""])
    types: dict[str, str] = field(default_factory=dict)  # column -> declared kind (monitor.load.read.column_types)
    keys: list[str] = field(default_factory=list)  # the key columns (merge)
    # fullload: run in the load's transaction under the target's lock just before the swap, with
    # the rows staged; raises to refuse it (an older snapshot: `monitor.load.read.snapshots`; a
    # much smaller one: `monitor.load.write.shrink`)
    before_swap: Callable[[Connection, int], None] | None = None
    wait: SwapWait | None = None  # fullload: how long the swap waits for readers, who is told

    def target(self, table: str | None = None, *, fresh: bool = False) -> Target:
        """The table this job writes now: its target, or (`table`) a staging table of it."""
        return Target(self.schema, table or self.table, self.columns, self.load_id, self.null_values,
                      fresh=fresh, destination=self.table)


# How a file's rows reach a table: (conn, target) -> rows written (`monitor.load.write.route`).
RowWriter = Callable[[Connection, Target], int]


class EmptyKeysFound(Exception):
    """Rows read as they are from the file have an empty key: read it again record by record,
    where such rows are rejected with their line (`Strategy.finds_empty_keys`)."""


class Strategy(ABC):
    """A write disposition. One that `finds_empty_keys` in the rows it staged (raising
    `EmptyKeysFound`) may be given a file read as it is even when its rule has key columns."""

    name: str
    finds_empty_keys: ClassVar[bool] = False

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

    def audit_values(self) -> dict[str, int]:
        """Counts of the last `load` for the audit row beyond rows loaded (none by default)."""
        return {}

    def warnings(self) -> list[str]:
        """What the last `load` did that an operator should know of (none by default)."""
        return []

    def committed_values(self, conn: Connection, backend: Backend, job: LoadJob) -> dict[str, Any]:
        """After a crash, the audit counts of a load whose data committed."""
        loaded = backend.rows_of_load(conn, job.schema, job.table, job.load_id)
        return {"rows_read": loaded, "rows_loaded": loaded}


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
        self.swap(conn, backend, job, staging, count)
        return count

    def swap(self, conn: Connection, backend: Backend, job: LoadJob, staging: str, staged: int) -> None:
        """The filled `staging` (`staged` rows) takes the target's place (`before_swap` first)."""
        if job.before_swap is not None:
            backend.lock_target(conn, job.schema, job.table)
            job.before_swap(conn, staged)
        backups.swap_in(backend, conn, job.schema, job.table, staging, self.keep_backups, job.wait)

    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        return (backend.table_exists(conn, job.schema, job.table)
                and backend.load_id_of(conn, job.schema, job.table) == job.load_id)


def _create_or_widen(conn: Connection, backend: Backend, job: LoadJob) -> None:
    """Create the target, or add the file's columns it lacks (the target locked)."""
    if not backend.table_exists(conn, job.schema, job.table):
        backend.create_table(conn, job.schema, job.table, job.columns, job.types)
        return
    present = set(backend.columns_of(conn, job.schema, job.table))
    missing = [name for name in job.columns if name not in present]
    if missing:
        backend.add_columns(conn, job.schema, job.table, missing, job.types)


class Append(Strategy):
    """Add the rows to the target, creating it or adding new columns first."""

    name = "append"

    def prepare(self, backend: Backend, job: LoadJob) -> None:
        """Nothing when the target has every column of the file (one look, no lock, each file:
        nothing is remembered between files); else create or widen it, the target locked."""
        try:
            with backend.reading() as conn:
                present = set(backend.columns_of(conn, job.schema, job.table))
        except NoSuchTableError:
            present = set()
        if present and all(name in present for name in job.columns):
            return
        with backend.transaction() as conn:
            backend.lock_target(conn, job.schema, job.table)
            _create_or_widen(conn, backend, job)

    def load(self, conn: Connection, backend: Backend, job: LoadJob, write: RowWriter) -> int:
        return write(conn, job.target())

    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        return backend.rows_of_load(conn, job.schema, job.table, job.load_id) > 0


class MergeError(Exception):
    """The target cannot be merged into; the message says why."""


class Merge(Strategy):
    """Update the target on a key: rows staged by the bulk path, then applied set-based
    (`merge_steps.apply`), the replaced versions kept in the history table."""

    name = "merge"
    finds_empty_keys = True

    def __init__(self) -> None:
        self.counts: MergeCounts | None = None

    def prepare(self, backend: Backend, job: LoadJob) -> None:
        """The target (or its new columns), the unique index on its key, its history table."""
        with backend.transaction() as conn:
            backend.lock_target(conn, job.schema, job.table)
            _create_or_widen(conn, backend, job)
            try:
                merge_steps.prepare(backend, conn, Place(job.schema, job.table), job.keys)
            except DBAPIError as exc:
                if not backend.is_data_error(exc):  # not about the rows: said as it is
                    raise
                raise MergeError(
                    f"cannot merge into {job.schema}.{job.table} on {', '.join(job.keys)}: the key cannot be indexed "
                    f"as unique (does the table hold rows of the same key already?): {first_line(exc.orig or exc)}"
                ) from exc

    def load(self, conn: Connection, backend: Backend, job: LoadJob, write: RowWriter) -> int:
        backend.lock_target(conn, job.schema, job.table)  # merges into one target run one at a time
        plan = merge_steps.plan(backend, conn, Place(job.schema, job.table), job.keys, job.columns, job.load_id)
        backend.create_staging(conn, plan)
        staging = Target(plan.staging.schema, plan.staging.table, job.columns, job.load_id, job.null_values,
                         fresh=True, destination=job.table, ordered=True)
        staged = write(conn, staging)
        if merge_steps.has_empty_keys(backend, conn, plan):
            raise EmptyKeysFound(f"{job.schema}.{job.table}: rows with an empty key among the rows staged")
        self.counts = merge_steps.apply(backend, conn, plan, staged)
        return self.counts.applied

    def audit_values(self) -> dict[str, int]:
        counts = self.counts
        if counts is None:
            return {}
        return {"rows_inserted": counts.inserted, "rows_updated": counts.updated,
                "rows_unchanged": counts.unchanged, "rows_superseded": counts.superseded}

    def warnings(self) -> list[str]:
        counts = self.counts
        if counts is None or not counts.superseded:
            return []
        shown = ", ".join(counts.superseded_keys) + (", ..." if counts.superseded > len(counts.superseded_keys) else "")
        return [f"{counts.superseded} row(s) not loaded: a later row of the file has the same key, and the last "
                f"row of a key wins (keys: {shown})"]

    def is_committed(self, conn: Connection, backend: Backend, job: LoadJob) -> bool:
        return merge_steps.recorded(backend, conn, Place(job.schema, job.table), job.load_id) is not None

    def committed_values(self, conn: Connection, backend: Backend, job: LoadJob) -> dict[str, Any]:
        self.counts = merge_steps.recorded(backend, conn, Place(job.schema, job.table), job.load_id)
        counts = self.counts or MergeCounts(0, 0, 0)
        return {"rows_read": counts.applied + counts.superseded, "rows_loaded": counts.applied,
                **self.audit_values()}


def strategy_for(mode: str, keep_backups: int = 1) -> Strategy:
    """The strategy configured for a target."""
    if mode == "fullload":
        return FullLoad(keep_backups)
    if mode == "append":
        return Append()
    if mode == "merge":
        return Merge()
    raise ValueError(f"unknown mode {mode!r}")
