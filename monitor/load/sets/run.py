"""A complete snapshot set loaded as one snapshot: every part into one staging table, one swap.

Each part is read as a file of its own (`LoadRun`: its format, its header checked against
the rule and the target, its rejects, its audit row); the parts must share one header. Then:

- **together** (SQLite, SQL Server, and a set of one part): one transaction creates the
  staging table, fills it part after part, swaps it in and marks every part `loaded`
  (where the backend commits its tables with the daemon's own; else just after, as a
  single file's load does);
- **in parallel** (a backend that declares `fills_in_parallel`: PostgreSQL): the staging
  table is created and committed, several connections fill it at once, a part each in
  its own transaction, then one transaction swaps it in and marks every part `loaded`.
  A staging table left by a crash is dropped when the set is loaded again.

The target changes only at the swap, so it holds the previous snapshot until the whole
set is in, and the previous one goes to `bkp` whole. A part that fails fails the set.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

from sqlalchemy import Connection

from monitor.config import FolderRule
from monitor.load.read.policies import PolicyError
from monitor.load.read.snapshots import Superseded, check_newest
from monitor.load.sets.machine import SetStore, describe_set
from monitor.load.state.inflight import Progress
from monitor.load.state.machine import TransitionError
from monitor.load.write import backups
from monitor.load.write.isolation import is_transient, load_file, reason_of
from monitor.load.write.parallel import fill_then_swap
from monitor.load.write.run import LoadCancelled, LoadRun, RunContext
from monitor.records import FileRecord, SetRecord
from monitor.source import EncodingError, SourceError, SourceFormat

log = logging.getLogger("monitor.sets")
MAX_PARALLEL_PARTS = 4


class PartFailed(Exception):
    """The set cannot load; `load_id` is the part at fault (None: the set as a whole)."""

    def __init__(self, load_id: int | None, message: str) -> None:
        super().__init__(message)
        self.load_id = load_id
        self.message = message


class _Linked(threading.Event):
    """Set for this set alone (a part failed: its siblings stop), or when the daemon stops."""

    def __init__(self, parent: threading.Event) -> None:
        super().__init__()
        self.parent = parent

    def is_set(self) -> bool:
        return super().is_set() or self.parent.is_set()


def parallel_width(parts: int) -> int:
    """How many parts fill the staging table at once: one per core, two at least, four at most."""
    return max(1, min(parts, MAX_PARALLEL_PARTS, max(2, os.cpu_count() or 2)))


class SetRun:
    """The load of one complete set whose parts are `loading` (their files in `processing/`)."""

    def __init__(self, ctx: RunContext, store: SetStore, found: SetRecord, parts: list[tuple[FileRecord, Progress]],
                 rule: FolderRule) -> None:
        self.abort = _Linked(ctx.cancel)
        self.ctx = replace(ctx, cancel=self.abort)
        self.store, self.found, self.rule = store, found, rule
        self.backend = ctx.backend
        self.schema, self.table = found.target_schema, found.target_table
        self.runs = [LoadRun(self.ctx, row, rule, Path(row.current_path), progress) for row, progress in parts]
        self.current: LoadRun | None = None  # the part being read or written now (to blame on an error)
        self.name = describe_set(found)

    def execute(self) -> int:
        """Load the set; return the rows loaded. Raises on failure (the target unchanged):
        `PartFailed` naming the part at fault, `Superseded`, `LoadCancelled`, or a transient error."""
        try:
            for run in self.runs:
                self.current = run
                run.prepare()
            self._same_columns()
            staging = self.backend.staging_name(self.table, min(run.load_id for run in self.runs))
            parallel = self.backend.fills_in_parallel and len(self.runs) > 1
            counts = self._parallel(staging) if parallel else self._together(staging)
        except Exception as exc:
            blamed = self._blamed(self.current, exc)
            if blamed is exc:
                raise
            raise blamed from exc
        finally:
            for run in self.runs:
                run.sink.close()
        total = sum(counts.values())
        log.info("loaded %s into %s.%s: %d rows from %d parts (%s), %d rejected", self.name, self.schema, self.table,
                 total, len(self.runs), "in parallel" if parallel else "one after another",
                 sum(run.sink.count for run in self.runs))
        return total

    def _same_columns(self) -> None:
        first = self.runs[0]
        assert first.plan is not None
        for run in self.runs[1:]:
            assert run.plan is not None
            if run.plan.columns != first.plan.columns:
                self.current = run
                extra = [c for c in run.plan.columns if c not in first.plan.columns]
                missing = [c for c in first.plan.columns if c not in run.plan.columns]
                how = (f"extra columns: {', '.join(extra) or 'none'}; missing columns: {', '.join(missing) or 'none'}"
                       if extra or missing else "the same columns in another order")
                raise SourceError(f"{run.name}: its header is not that of {first.name}, the set's first part "
                                  f"(the parts of a set share one header): {how}")

    def _blamed(self, run: LoadRun | None, exc: BaseException) -> BaseException:
        """`PartFailed` for an error that fails the set; what stops it otherwise, as it is."""
        if isinstance(exc, (PartFailed, LoadCancelled, Superseded, TransitionError)) or is_transient(exc):
            return exc
        message = str(exc) if isinstance(exc, SourceError) else f"{run.name if run else self.name}: {exc}"
        return PartFailed(run.load_id if run is not None else None, message)

    # -- the rows of one part ----------------------------------------------------------------
    def _write(self, run: LoadRun, conn: Connection, staging: str, fmt: SourceFormat, *, fresh: bool,
               careful: bool) -> int:
        assert run.job is not None
        self.current = run
        loaded = run.write_into(conn, run.job.target(staging, fresh=fresh), fmt, careful)
        run.policy.check_share(loaded, run.sink.count, run.sink.first)
        return loaded

    # -- one transaction ---------------------------------------------------------------------
    def _together(self, staging: str) -> dict[int, int]:
        """Every part in one transaction, fast; on a refused row all again in careful mode; a
        part whose guessed UTF-8 turns out wrong is read again as Windows-1252."""
        careful = False
        while True:
            try:
                return self._one_transaction(staging, careful)
            except Exception as exc:
                run = self.current
                if isinstance(exc, EncodingError) and run is not None and run.fmt.detected \
                        and run.fmt.encoding == "utf-8":
                    log.warning("%s: not UTF-8 after the first megabyte: reading it again as Windows-1252", run.name)
                    run.fmt = replace(run.fmt, encoding="cp1252", detected=False)
                    continue
                if self.backend.is_data_error(exc) and not careful:
                    log.warning("the database refused a batch of %s (%s); loading the set again row-safe",
                                run.name if run else self.name, reason_of(exc))
                    careful = True
                    continue
                raise

    def _one_transaction(self, staging: str, careful: bool) -> dict[int, int]:
        backend = self.backend
        first = self.runs[0]
        assert first.job is not None
        together = backend.commits_with_state(self.schema)
        with backend.transaction() as conn:
            backend.drop_table(conn, self.schema, staging)
            backend.create_table(conn, self.schema, staging, first.job.columns, first.job.types)
            counts = {run.load_id: self._write(run, conn, staging, run.fmt, fresh=True, careful=careful)
                      for run in self.runs}
            self._swap(conn, staging, counts, mark=together)
        if not together:  # the target's file commits apart: data first (a crash between is resumed)
            with backend.transaction() as conn:
                self._mark(conn, counts)
        return counts

    # -- in parallel -------------------------------------------------------------------------
    def _parallel(self, staging: str) -> dict[int, int]:
        backend = self.backend
        first = self.runs[0]
        assert first.job is not None
        together = backend.commits_with_state(self.schema)
        counts = fill_then_swap(backend, self.schema, staging, first.job.columns, first.job.types,
                                lambda: self._fill_all(staging),
                                lambda conn, counts: self._swap(conn, staging, counts, mark=together))
        if not together:
            with backend.transaction() as conn:
                self._mark(conn, counts)
        return counts

    def _fill_all(self, staging: str) -> dict[int, int]:
        """Each part in its own committed transaction, `parallel_width` at a time; the first
        failure stops the others and is the one reported."""
        def fill(run: LoadRun) -> int:
            try:
                return load_file(partial(self._part, run, staging), run.fmt, self.backend.is_data_error)
            except BaseException:
                self.abort.set()
                raise

        with ThreadPoolExecutor(max_workers=parallel_width(len(self.runs)), thread_name_prefix="set-part") as pool:
            futures: list[tuple[LoadRun, Future[int]]] = [(run, pool.submit(fill, run)) for run in self.runs]
        counts: dict[int, int] = {}
        failure: tuple[LoadRun, BaseException] | None = None
        for run, future in futures:
            exc = future.exception()
            if exc is None:
                counts[run.load_id] = future.result()
            elif isinstance(exc, LoadCancelled) and not self.abort.parent.is_set():
                continue  # stopped because a sibling failed
            elif failure is None or isinstance(failure[1], LoadCancelled):
                failure = (run, exc)
        if failure is not None:
            self.current = failure[0]
            raise failure[1]
        self.current = None
        return counts

    def _part(self, run: LoadRun, staging: str, fmt: SourceFormat, careful: bool) -> int:
        with self.backend.transaction() as conn:
            return self._write(run, conn, staging, fmt, fresh=False, careful=careful)

    # -- the swap ----------------------------------------------------------------------------
    def _swap(self, conn: Connection, staging: str, counts: dict[int, int], *, mark: bool) -> None:
        """Under the target's lock: newest wins, never an empty table, no part changed since it
        was hashed; then the staging table takes the target's place."""
        backend, target = self.backend, f"{self.schema}.{self.table}"
        self.current = None
        backend.lock_target(conn, self.schema, self.table)
        if self.found.replay_of is None:
            check_newest(conn, backend, self.schema, self.table, self.found.snapshot_date)
        rows, rejected = sum(counts.values()), sum(run.sink.count for run in self.runs)
        if rows == 0:
            why = f"all {rejected} rows were rejected" if rejected else "its parts have no data rows"
            raise PolicyError(f"{self.name}: refusing to replace {target} with an empty table: {why}")
        for run in self.runs:
            self.current = run
            run.guard.check()
        self.current = None
        if self.abort.is_set():
            raise LoadCancelled(f"{self.name} cancelled")
        for run in self.runs:
            run.progress.phase = "committing"
        backups.swap_in(backend, conn, self.schema, self.table, staging, self.rule.backups)
        if mark:
            self._mark(conn, counts)

    def _mark(self, conn: Connection, counts: dict[int, int]) -> None:
        """Every part `loaded` (its rows, rejects and archive move) and the set with them."""
        detail = f"{self.name}: loaded as one snapshot with its {len(self.runs)} parts"
        for run in self.runs:
            run.mark_loaded(conn, counts[run.load_id], detail=detail)
        notes = "; ".join(dict.fromkeys(run.plan.note for run in self.runs if run.plan and run.plan.note)) or None
        self.store.loaded(conn, self.found.set_id, sum(counts.values()), sum(run.sink.count for run in self.runs),
                          notes)
