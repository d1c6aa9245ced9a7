"""One file's load, as one object: read its format, plan its columns, write its rows by its
strategy, and mark it `loaded` in the same transaction as its data where the backend allows.

The run owns what the load shares between its stages: the plan, the reject sink and policy,
the live progress, the lease renewal and the cancellation check. A first try loads fast; if
the database refuses a row, `monitor.load.write.isolation` runs it again in careful mode.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from monitor.backends import Backend
from monitor.backends.names import table_name_problem
from monitor.backends.target import NotThisFile, Target
from monitor.config import FolderRule, Limits
from monitor.intake.folders import archive_path, rejects_path
from monitor.load.read.detect import sniff
from monitor.load.read.guard import FileGuard
from monitor.load.read.naming import NameRules, normalise_header
from monitor.load.read.policies import LoadPlan, PolicyError, RejectPolicy, plan_load
from monitor.load.read.records import Reject, iter_batches
from monitor.load.read.rejects import RejectSink
from monitor.load.read.snapshots import check_newest, future_check
from monitor.load.state.inflight import Progress
from monitor.load.state.leases import Renewal
from monitor.load.state.machine import StateStore, Status, utcnow
from monitor.load.write.backups import pause_point
from monitor.load.write.isolation import careful_writer, load_file
from monitor.load.write.parallel import fill_then_swap
from monitor.load.write.readers import SwapWait
from monitor.load.write.route import RowSource, offer, write_rows
from monitor.load.write.shrink import check_shrink, on_purpose
from monitor.load.write.strategies import EmptyKeysFound, FullLoad, LoadJob, strategy_for
from monitor.records import FileRecord
from monitor.source import DEFAULT_LIMITS, SourceFormat

log = logging.getLogger("monitor.pipeline")


class _NotSplit(Exception):
    """The backend would not read the file over several connections (the reason)."""


class LoadCancelled(Exception):
    """The daemon is stopping: the load in flight rolls back and resumes on the next start."""


@dataclass(frozen=True)
class RunContext:
    """What every run of one pipeline shares."""

    backend: Backend
    state: StateStore
    batch_rows: int
    lease_seconds: float
    cancel: threading.Event
    limits: Limits = DEFAULT_LIMITS
    allow_shrink: bool = False  # an operator's `retry --allow-shrink`: past the shrink guard on purpose


class LoadRun:
    """The load of one claimed file that sits in `processing/` (its row is `loading`)."""

    def __init__(self, ctx: RunContext, row: FileRecord, rule: FolderRule, path: Path, progress: Progress,
                 hashed: tuple[int, int] | None = None) -> None:
        self.ctx, self.row, self.rule, self.path, self.progress = ctx, row, rule, path, progress
        self.load_id: int = row.load_id
        self.name: str = row.file_name
        self.schema: str = row.target_schema
        self.table: str = row.target_table
        self.target = f"{self.schema}.{self.table}"
        self.hashed = hashed
        self.sink = RejectSink(rejects_path(path))
        self.policy = RejectPolicy(rule, self.name, self.target)
        self.renewal = Renewal(lambda: ctx.state.renew([self.load_id]), ctx.lease_seconds,
                               enabled=ctx.backend.supports_leases)
        self.strategy = strategy_for(rule.mode, rule.backups)
        self.plan: LoadPlan | None = None
        self.job: LoadJob | None = None
        self.column_map = "[]"
        self.keys_in_reader = False  # the strategy found empty keys: the reader checks them
        self.shrink_note: str | None = None  # loaded past the shrink guard on purpose
        self.guard: FileGuard
        self.fmt: SourceFormat

    def execute(self) -> int:
        """Load the file; return the rows loaded. Raises on failure (nothing committed)."""
        self.prepare()
        try:
            loaded = load_file(lambda fmt, careful: self._attempt(fmt, careful), self.fmt,
                               self.ctx.backend.is_data_error)
        finally:
            self.sink.close()
        return loaded

    def prepare(self) -> None:
        """Before any row moves: check the file is as hashed, read its format and header, plan
        its columns against the rule and the target, and make the target ready."""
        self.guard = FileGuard(self.path, self.name, self.row.size_bytes, self.hashed)
        self.fmt = fmt = sniff(self.path, encoding=self.rule.encoding, delimiter=self.rule.delimiter, name=self.name,
                               limits=self.ctx.limits)
        backend = self.ctx.backend
        problem = table_name_problem(backend, self.table, self.load_id, staged=self.rule.mode != "append")
        if problem:
            raise PolicyError(f"{self.name}: {problem}: not loaded")
        columns = normalise_header(fmt.header, NameRules.of(backend))
        self.column_map = json.dumps([{"header": h, "column": c} for h, c in zip(fmt.header, columns, strict=True)])
        self.plan = plan_load(self.name, fmt.header, columns, self.rule, backend, self.schema, self.table)
        if self.rule.mode == "fullload":
            future_check(self.name, self.row.snapshot_date)
        self.job = LoadJob(self.load_id, self.schema, self.table, self.plan.columns, self.rule.null_values,
                           self.plan.types, keys=self.plan.keys,
                           before_swap=self.before_swap if self.rule.mode == "fullload" else None,
                           wait=SwapWait(self.rule.swap_wait_seconds, self.swap_waits, self.checkpoint))
        self.strategy.prepare(self.ctx.backend, self.job)

    def swap_waits(self, message: str | None, since: datetime | None) -> None:
        """The swap waits for readers (`message`), or no longer (None): the live progress and
        the audit row say so (only backends whose writers never share one lock ever wait)."""
        self.progress.swap_waits(message, since)
        try:
            self.ctx.state.update(self.load_id, error=message)
        except Exception as exc:  # said in the log and on the status page all the same
            log.debug("%s: the audit row does not say the swap waits: %s", self.name, exc)

    def before_swap(self, conn: Connection, staged: int) -> None:
        """Under the target's lock, just before a fullload's swap: newest wins and the shrink
        guard on the rows staged (a replay, or `--allow-shrink`, loads on purpose)."""
        if self.row.replay_of is None:
            check_newest(conn, self.ctx.backend, self.schema, self.table, self.row.snapshot_date)
        self.shrink_note = check_shrink(conn, self.ctx.backend, self.schema, self.table, staged,
                                        self.rule.min_row_share, on_purpose(self.ctx.allow_shrink, self.row.replay_of))

    # -- between batches -----------------------------------------------------------------
    def checkpoint(self) -> None:
        """Stop when the daemon is stopping; keep the lease of a long load."""
        if self.ctx.cancel.is_set():
            raise LoadCancelled(f"load {self.load_id} cancelled")
        self.renewal.tick()

    def read(self, rows: int) -> None:
        """Records read by a backend reading the file itself (negative: given back)."""
        self.checkpoint()
        self.progress.rows += rows

    def reject(self, item: Reject) -> None:
        """A row the database refused in careful mode."""
        self.policy.take(self.sink, [item])
        self.progress.rejected = self.sink.count

    def _batches(self, fmt: SourceFormat, careful: bool) -> Iterator[Any]:
        """The general reader's batches (whole `Batch`es in careful mode, else their rows)."""
        assert self.plan is not None
        for batch in iter_batches(self.path, fmt, self.ctx.batch_rows, shape=self.plan.shape, keep_raw=careful,
                                  name=self.name):
            self.checkpoint()
            self.policy.take(self.sink, batch.rejects)
            self.progress.rows += len(batch.rows)
            self.progress.rejected = self.sink.count
            yield batch if careful else batch.rows

    # -- one try -------------------------------------------------------------------------
    def write_into(self, conn: Connection, target: Target, fmt: SourceFormat, careful: bool) -> int:
        """One try of the file's rows into `target` inside `conn`'s transaction, the fastest
        way open to it (`route`); careful mode isolates rows the database refuses. Keys that
        only must not be empty leave the file to the backend when the strategy checks them."""
        backend = self.ctx.backend
        assert self.plan is not None
        self.sink.reset()
        self.progress.rows = self.progress.rejected = 0
        keys_later = self.plan.keys_only and self.strategy.finds_empty_keys and not self.keys_in_reader
        raw, why_not = offer(self.path, fmt, shaped=self.plan.shape is not None and not keys_later,
                             null_values=self.rule.null_values, careful=careful, on_rows=self.read, name=self.name)
        source = RowSource(self.name, lambda: self._batches(fmt, careful), raw, why_not,
                           careful_writer(backend, self.reject) if careful else None)
        return write_rows(conn, backend, target, source)

    def _attempt(self, fmt: SourceFormat, careful: bool) -> int:
        """One try; if the file, read as it is, had rows with an empty key that the strategy
        found (and rolled back), once more record by record, where they are rejected."""
        try:
            return self._try(fmt, careful)
        except EmptyKeysFound as found:
            log.info("%s: %s; reading it again record by record", self.name, found)
            self.keys_in_reader = True
            return self._try(fmt, careful)

    def _try(self, fmt: SourceFormat, careful: bool) -> int:
        """One try in one transaction; careful mode isolates rows the database refuses. A large
        fullload file is first offered to be filled over several connections (`_split`)."""
        assert self.job is not None
        loaded = None if careful else self._split(fmt)
        if loaded is not None:
            return loaded
        backend, job = self.ctx.backend, self.job
        together = backend.commits_with_state(self.schema)
        with backend.transaction() as conn:
            self.progress.session = backend.session_of(conn)  # to name a lock it waits for
            loaded = self.strategy.load(conn, backend, job,
                                        lambda conn, target: self.write_into(conn, target, fmt, careful))
            self._finish(conn, loaded, mark=together)
        if not together:  # the target's file commits apart: data first, so a crash in between
            pause_point("ref-replaced")
            with backend.transaction() as conn:  # leaves `loading` with committed rows (resumed)
                self.mark_loaded(conn, loaded)
        return loaded

    def _split(self, fmt: SourceFormat) -> int | None:
        """A fullload read by the backend itself over several connections (`load.parallel`): the
        rows loaded, or None when the file goes the one-transaction way (`_try`) instead."""
        backend, job, strategy = self.ctx.backend, self.job, self.strategy
        assert job is not None
        if not (isinstance(strategy, FullLoad) and backend.fills_in_parallel and backend.split_connections > 1
                and backend.reads_files and self.path.stat().st_size >= backend.split_min_bytes):
            return None
        raw, _ = offer(self.path, fmt, shaped=self.plan is not None and self.plan.shape is not None,
                       null_values=self.rule.null_values, careful=False, on_rows=self.read, name=self.name)
        if raw is None or raw.width != len(job.columns):
            return None
        staging = backend.staging_name(job.table, job.load_id)
        together = backend.commits_with_state(self.schema)

        def fill() -> int:
            self.sink.reset()
            self.progress.rows = self.progress.rejected = 0
            read = backend.load_file_split(job.target(staging), raw, backend.split_connections)
            if isinstance(read, NotThisFile):
                raise _NotSplit(read.reason)
            log.debug("%s: %s: %d rows into %s", self.name, read.how, read.rows, job.target(staging).key)
            return read.rows

        def swap(conn: Connection, loaded: int) -> None:
            strategy.swap(conn, backend, job, staging, loaded)
            self._finish(conn, loaded, mark=together)

        try:
            loaded = fill_then_swap(backend, self.schema, staging, job.columns, job.types, fill, swap)
        except _NotSplit as exc:
            log.debug("%s: not split over connections (%s); in one transaction", self.name, exc)
            return None
        if not together:
            with backend.transaction() as conn:
                self.mark_loaded(conn, loaded)
        return loaded

    def _finish(self, conn: Connection, loaded: int, *, mark: bool) -> None:
        """The checks before the commit (rejects, the file unchanged, not cancelled); `loaded` with them."""
        self.policy.finish(loaded, self.sink.count, self.sink.first)
        self.guard.check()
        if self.ctx.cancel.is_set():  # rows may still be on their way to the server: roll back
            raise LoadCancelled(f"load {self.load_id} cancelled")
        self.progress.phase = "committing"
        if mark:  # the data and the `loaded` state commit as one
            self.mark_loaded(conn, loaded)

    def mark_loaded(self, conn: Connection, loaded: int, detail: str | None = None) -> None:
        """Store the rejects and mark the file `loaded` (its archive move recorded) in `conn`,
        with the strategy's counts (merge: inserted, updated, unchanged, superseded)."""
        assert self.plan is not None
        state, sink = self.ctx.state, self.sink
        sink.store(conn, self.load_id)
        archive = archive_path(self.rule.path, self.name, self.load_id, utcnow())
        counts = self.strategy.audit_values()
        state.end_in(
            conn, self.load_id, Status.LOADING, Status.LOADED, move_to=archive, detail=detail,
            rows_read=loaded + sink.count + counts.get("rows_superseded", 0), rows_loaded=loaded,
            rows_rejected=sink.count, column_map=self.column_map, error=self.notes(), **counts,
        )

    def notes(self) -> str | None:
        """The warnings kept with the load: the plan's, then the strategy's."""
        assert self.plan is not None
        notes = [note for note in (self.plan.note, self.shrink_note) if note]
        notes += [f"warning: {warning}" for warning in self.strategy.warnings()]
        return "; ".join(notes) or None
