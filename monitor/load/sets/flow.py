"""A part of a snapshot set through the pipeline: it arrives and waits; the set, complete, loads
as one snapshot; a set found in flight after a crash resumes whole or is loaded again whole.

- `arrive`: a claimed part in `processing/` joins its set (`SetStore.join`); the part that
  completes the set loads it (`load`), in the same worker.
- `load`: a complete waiting set: newest wins (older than the snapshot loaded now: every part
  ends `superseded`), then `SetRun` fills one staging table and swaps it in; a failure fails
  the set and its parts, a stop rolls it back to waiting.
- a part found `loading` after a crash is resumed by `monitor.load.recovery` (`resume_set`).
- `ready` and `report_overdue`: for the recovery sweep, sets complete but not loaded (a crash
  between the last arrival and the load), and sets still incomplete past their `set_timeout`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from monitor.config import FolderRule
from monitor.load.read.snapshots import PartName, Superseded, part_of, superseded_reason
from monitor.load.sets.host import PipelineHost
from monitor.load.sets.machine import Arrival, SetStatus, SetStore, describe_set
from monitor.load.sets.run import PartFailed, SetRun
from monitor.load.state import journal
from monitor.load.state.machine import Status, TransitionError, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.load.write.isolation import failure_message, is_transient
from monitor.load.write.run import LoadCancelled
from monitor.records import FileRecord, SetRecord

log = logging.getLogger("monitor.sets")
SET_OUTCOMES = {SetStatus.WAITING: OutcomeKind.WAITING, SetStatus.LOADING: OutcomeKind.LOADING,
                SetStatus.LOADED: OutcomeKind.LOADED, SetStatus.FAILED: OutcomeKind.FAILED,
                SetStatus.SUPERSEDED: OutcomeKind.SUPERSEDED}


class SetFlow:
    """The pipeline's stages for the parts of snapshot sets."""

    def __init__(self, pipeline: PipelineHost) -> None:
        self.pipeline = pipeline
        self.store = SetStore(pipeline.backend, pipeline.state)
        self._lock = threading.Lock()
        self._busy: set[int] = set()  # sets a worker of this process is loading or resuming

    def part(self, row: FileRecord, rule: FolderRule) -> PartName | None:
        """The set a claimed file is a part of (a replay: only of a part that was in a set)."""
        found = part_of(rule, row.file_name)
        if found is None or row.replay_of is None:
            return found
        origin = self.pipeline.state.get(row.replay_of)
        return found if origin is not None and origin.set_id is not None else None

    @contextmanager
    def handling(self, set_id: int) -> Iterator[bool]:
        """True for the one worker of this process that handles the set now."""
        with self._lock:
            mine = set_id not in self._busy
            self._busy.add(set_id)
        try:
            yield mine
        finally:
            if mine:
                with self._lock:
                    self._busy.discard(set_id)

    # -- arrival -------------------------------------------------------------------------
    def arrive(self, row: FileRecord, rule: FolderRule, part: PartName) -> Outcome:
        """A claimed part sitting in `processing/` joins its set; the last one loads it."""
        pipeline = self.pipeline
        replay_set = None
        if row.replay_of is not None:
            origin = pipeline.state.get(row.replay_of)
            replay_set = origin.set_id if origin is not None else None
        joined = self.store.join(row, part, rule, replay_set)
        pipeline.mover.finish_recorded(row.load_id)
        extra = {"load_id": row.load_id, "file": row.file_name, "set_id": joined.set_id, "state": joined.kind.value,
                 "target": f"{row.target_schema}.{row.target_table}"}
        if joined.kind is Arrival.FAILED:
            log.error("refused %s (load %s): %s", row.file_name, row.load_id, joined.note,
                      extra={**extra, "error": joined.note})
        else:
            log.info("%s (load %s): %s", row.file_name, row.load_id, joined.note, extra=extra)
        if joined.kind is Arrival.COMPLETE and joined.set_id is not None:
            self.load(joined.set_id, rule)
        outcome = pipeline.outcome_of(row.load_id)
        if outcome.status in (OutcomeKind.WAITING, OutcomeKind.DUPLICATE) and not outcome.error:
            outcome.error = joined.note
        return outcome

    # -- the set's load ------------------------------------------------------------------
    def load(self, set_id: int, rule: FolderRule) -> Outcome:
        """Load a complete waiting set as one snapshot (unless another worker has it)."""
        with self.handling(set_id) as mine:
            found = self.store.get(set_id)
            if found is None:
                return Outcome(f"set {set_id}", OutcomeKind.VANISHED, error="no such set")
            if not mine or found.status != SetStatus.WAITING:
                return self.outcome(set_id)
            with self.pipeline.target_lock(f"{found.target_schema}.{found.target_table}"):
                reason = None
                if found.replay_of is None:
                    with self.pipeline.backend.reading() as conn:
                        reason = superseded_reason(conn, self.pipeline.backend, found.target_schema,
                                                   found.target_table, found.snapshot_date)
                if reason is not None:
                    self._supersede(found, rule, reason)
                    return self.outcome(set_id)
                parts = self.store.start(set_id)
                if parts is not None:
                    self._run(found, parts, rule)
        return self.outcome(set_id)

    def _run(self, found: SetRecord, parts: list[FileRecord], rule: FolderRule) -> None:
        pipeline, set_id = self.pipeline, found.set_id
        target = f"{found.target_schema}.{found.target_table}"
        with ExitStack() as stack:
            held = [(part, stack.enter_context(pipeline.in_flight.loading(part.load_id, part.file_name, target)))
                    for part in parts]
            try:
                SetRun(pipeline.context, self.store, found, held, rule).execute()
            except LoadCancelled:
                self.store.release(set_id)
                log.warning("rolled back %s: the daemon is stopping; it loads whole on the next start",
                            describe_set(found))
            except Superseded as exc:
                self._supersede(found, rule, str(exc))
            except TransitionError as exc:
                log.warning("%s was taken over by another instance; leaving it: %s", describe_set(found), exc)
            except PartFailed as exc:
                log.error("failed %s into %s: %s", describe_set(found), target, exc.message,
                          extra=journal.set_fields(found, "failed", error=exc.message, load_id=exc.load_id))
                self.store.fail(set_id, rule, exc.message, exc.load_id)
            except Exception as exc:
                if is_transient(exc) and not pipeline.database_answers():
                    log.warning("database unavailable while loading %s: %s", describe_set(found), exc)
                    raise
                name = describe_set(found)  # a statement refused while the database answers: the set fails
                message = failure_message(exc, name) if is_transient(exc) else f"{name}: {exc}"
                log.error("failed %s", message, extra=journal.set_fields(found, "failed", error=message))
                self.store.fail(set_id, rule, message, None)
        self.finish_moves(set_id)

    def _supersede(self, found: SetRecord, rule: FolderRule, reason: str) -> None:
        log.warning("%s into %s.%s: %s", describe_set(found), found.target_schema, found.target_table, reason,
                    extra=journal.set_fields(found, "superseded", error=reason))
        self.store.supersede(found.set_id, rule, reason)
        self.finish_moves(found.set_id)

    def finish_moves(self, set_id: int) -> None:
        """Make the moves recorded for a set's parts."""
        for part in self.store.parts(set_id):
            if part.pending_move_to:
                self.pipeline.mover.finish(part)

    # -- for the daemon's sweep ----------------------------------------------------------
    def ready(self) -> list[tuple[int, FolderRule]]:
        """Complete sets waiting to be loaded, with their rules (none of them being handled here)."""
        out = []
        for found in self.store.ready():
            with self._lock:
                if found.set_id in self._busy:
                    continue
            parts = self.store.parts(found.set_id)
            rule = self.pipeline.rules.for_load(parts[0], self.pipeline.backend.schema_for) if parts else None
            if rule is not None:
                out.append((found.set_id, rule))
        return out

    def timeouts(self) -> dict[str, float]:
        """Each fullload target's `set_timeout` (`schema.table` -> seconds; its first rule's)."""
        out: dict[str, float] = {}
        for rule in self.pipeline.rules.rules:
            if rule.mode == "fullload":
                out.setdefault(f"{self.pipeline.backend.schema_for(rule.reference)}.{rule.table}", rule.set_timeout)
        return out

    def report_overdue(self) -> list[SetRecord]:
        """Log (once each) the sets still incomplete after their rule's `set_timeout`."""
        found = self.store.overdue(self.timeouts())
        for overdue in found:
            here = sorted(part.set_part for part in self.store.parts(overdue.set_id)
                          if part.status == Status.WAITING and part.set_part is not None)
            missing = [str(n) for n in range(1, overdue.part_count + 1) if n not in here]
            waited = (utcnow() - overdue.first_seen_at).total_seconds()
            log.warning("%s into %s.%s is incomplete after %.0f s: %d of %d parts here, missing part(s) %s; "
                        "it waits and is never loaded in part", describe_set(overdue), overdue.target_schema,
                        overdue.target_table, waited, len(here), overdue.part_count, ", ".join(missing),
                        extra=journal.set_fields(overdue, "overdue", missing=", ".join(missing),
                                                 parts_here=len(here), part_count=overdue.part_count,
                                                 duration=round(waited, 3)))
            self.store.mark_overdue(overdue.set_id)
        return found

    def outcome(self, set_id: int) -> Outcome:
        """How a set stands, as one outcome (its parts' totals)."""
        found = self.store.get(set_id)
        if found is None:
            return Outcome(f"set {set_id}", OutcomeKind.VANISHED, error="no such set")
        parts = self.store.parts(set_id)
        return Outcome(found.set_name, SET_OUTCOMES[SetStatus(found.status)], target=f"{found.target_schema}."
                       f"{found.target_table}", rows_read=sum(p.rows_read or 0 for p in parts),
                       rows_loaded=sum(p.rows_loaded or 0 for p in parts),
                       rows_rejected=sum(p.rows_rejected or 0 for p in parts), error=found.error)
