"""Recovery: what the daemon finds left by a crash, a stop or another instance that died, and
what it does with it. Every resume path is here; the daemon's sweep calls `Recovery.sweep`,
a worker `Recovery.resume_job` for each load the sweep queued.

| state found                                              | action                                           |
|----------------------------------------------------------|--------------------------------------------------|
| at start: a staging table (`<table>__stg_<id>`,          | dropped, logged, noted in the load's events      |
| `<table>__merge_<id>`) whose load has ended              | (`drop_left_staging`)                            |
| a load ended with its move recorded, not made            | the move is made (`Mover.finish`; at start, after |
| (`pending_move_to`)                                      | an outage, every 5 minutes, and after a failure) |
| `claimed` or `loading`, its lease ours (a restart) or    | queued (`ResumeJob`), taken over, resumed; a load |
| run out (another instance died)                          | whose target no rule loads any more: said once   |
| `loading`, its data committed (fullload: the target      | ended `loaded` with the committed counts, then   |
| carries its id; append: rows with its id; merge: its     | archived                                         |
| `ingest_merges` row)                                     |                                                  |
| `loading`, its data not committed                        | back to `claimed`, then as `claimed`             |
| `claimed` or `loading` (not committed), a stream's batch | ended `failed`: its stream reads it again        |
| (`monitor.load.origin`)                                  |                                                  |
| `loading`, a part of a set whose swap committed          | every part ended `loaded`, the set `loaded`      |
| `loading`, a part of a set not committed                 | the set waits again, whole, and loads again      |
| `claimed`, its file nowhere (not where recorded, on its  | ended `failed` ("not found after a restart"),    |
| way, or where dropped)                                   | its staging table dropped with it                |
| `claimed`, its file found                                | taken in to `processing/` and loaded; a staging  |
|                                                          | table left by a split fill is dropped before it  |
|                                                          | is made again (`FullLoad.load`, `fill_then_swap`)|
| a set `waiting` with every part here (a crash between    | queued (`SetJob`) and loaded as one snapshot     |
| the last arrival and the load)                           |                                                  |
| a set `waiting`, incomplete past its `set_timeout`       | said once; it waits, never loaded in part        |

A load that ends for any reason ends through `StateStore.end`, which drops its staging tables;
the sweep at start catches those left by a crash between a load's end and that drop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from monitor.backends import Backend
from monitor.config import FolderRule
from monitor.intake.folders import archive_path, processing_path
from monitor.intake.rules import RuleBook
from monitor.load.jobs import Job, ResumeJob, SetJob
from monitor.load.origin import OriginKind
from monitor.load.sets.flow import SetFlow
from monitor.load.sets.machine import SetStatus, describe_set
from monitor.load.state.inflight import InFlight
from monitor.load.state.machine import IN_FLIGHT, TERMINAL, StateStore, Status, utcnow
from monitor.load.state.outcome import Outcome
from monitor.load.write.strategies import LoadJob, strategy_for
from monitor.records import FileRecord

log = logging.getLogger("monitor.recovery")
LOAD_MADE = re.compile(r"^.+__[a-z]+_(\d+)$")  # a table named after the load that made it


def locate(record: FileRecord) -> Path | None:
    """Where a file in flight is after a crash: where it was recorded, on its way to, or dropped."""
    for candidate in (record.current_path, record.pending_move_to, record.source_path):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


class RecoveryHost(Protocol):
    """The pipeline as recovery sees it (it re-enters the pipeline's stages)."""

    backend: Backend
    state: StateStore
    rules: RuleBook
    in_flight: InFlight
    sets: SetFlow

    def run(self, load_id: int, rule: FolderRule, hashed: tuple[int, int] | None = None,
            tries: int = 1) -> Outcome: ...

    def not_taken_in(self, load_id: int, path: Path, rule: FolderRule, taken_in: Path, exc: OSError,
                     keep_source: bool) -> Outcome: ...

    def outcome_of(self, load_id: int) -> Outcome: ...


class Recovery:
    """Finds what was left in flight and re-enters the machine from the state recorded."""

    def __init__(self, host: RecoveryHost) -> None:
        self.host = host
        self.state = host.state
        self.backend = host.backend
        self._orphans: set[int] = set()  # loads reported as having no rule any more

    # -- the daemon's sweep --------------------------------------------------------------
    def sweep(self, *, moves: bool, queued: Callable[[Job], bool], start: bool = False) -> Iterator[Job]:
        """One pass: at `start`, staging tables left by ended loads dropped; recorded moves made
        (`moves`); then the jobs to queue: loads to resume, complete sets to load (those
        `queued` says are queued or being worked on already are left out)."""
        if start:
            self.drop_left_staging()
        if moves:
            self.finish_moves()
        for record in self.state.unfinished():
            if record.load_id in self.host.in_flight:
                continue
            rule = self.rule_of(record)
            if rule is None:
                self._orphan(record)
                continue
            job = ResumeJob(rule, record)
            if not queued(job):
                yield job
        sets = self.host.sets
        sets.report_overdue()
        for set_id, rule in sets.ready():
            job_of_set = SetJob(rule, set_id)
            if not queued(job_of_set):
                yield job_of_set

    def rule_of(self, record: FileRecord) -> FolderRule | None:
        """The folder rule that loads into a load's target (its source folder's first)."""
        return self.host.rules.for_load(record, self.backend.schema_for)

    def _orphan(self, record: FileRecord) -> None:
        if record.load_id not in self._orphans:
            self._orphans.add(record.load_id)
            log.error("load %s (%s): no folder rule loads into %s.%s any more; left as %s",
                      record.load_id, record.file_name, record.target_schema, record.target_table, record.status)

    def finish_moves(self) -> None:
        """Make every recorded move of an ended load that was not made (a crash, a full disk)."""
        for record in self.state.unfinished_moves():
            if record.load_id not in self.host.in_flight:
                self.state.mover.finish(record)

    def drop_left_staging(self) -> list[str]:
        """Drop the staging tables of loads that have ended (a crash came between a load's end
        and the drop); each said in the log and noted in its load's events. Their names."""
        schemas = {self.backend.schema_for(rule.reference) for rule in self.host.rules.rules}
        dropped: list[str] = []
        for schema in sorted(schemas):
            with self.backend.reading() as conn:
                names = self.backend.tables_in(conn, schema)
            for name in names:
                record = self._maker(name)
                if record is None or record.target_schema != schema or record.status not in TERMINAL \
                        or name not in self.state.staging_tables(record):
                    continue
                with self.backend.transaction() as conn:
                    self.backend.drop_table(conn, schema, name)
                    self.state.note(conn, record.load_id, f"staging table {schema}.{name} left behind: dropped")
                log.warning("dropped %s.%s, the staging table of load %s (%s, %s), left behind", schema, name,
                            record.load_id, record.file_name, record.status)
                dropped.append(f"{schema}.{name}")
        return dropped

    def _maker(self, table: str) -> FileRecord | None:
        """The load a table is named after, if any."""
        found = LOAD_MADE.match(table)
        if found is None:
            return None
        return self.state.get(int(found.group(1)))

    # -- a worker's resume ---------------------------------------------------------------
    def resume_job(self, job: ResumeJob) -> Outcome | None:
        """Take over a load the sweep found in flight and resume it; None when it is held
        here already, another instance took it, or it moved on meanwhile."""
        record = job.record
        if record.load_id in self.host.in_flight or not self.state.take_over(record.load_id):
            return None
        fresh = self.state.get(record.load_id)
        if fresh is None or fresh.status not in IN_FLIGHT:
            return None
        log.info("resuming load %s (%s, %s, attempt %d, last held by %s)", fresh.load_id, fresh.file_name,
                 record.status, fresh.attempts, record.claimed_by)
        with self.host.in_flight.holding(fresh.load_id):
            return self.resume(fresh, job.rule)

    def resume(self, record: FileRecord, rule: FolderRule, tries: int = 1) -> Outcome:
        """Re-enter the machine for a load found in flight, from its recorded state."""
        load_id = record.load_id
        if record.status == Status.LOADING and record.set_id is not None:
            return self.resume_set(record, rule)
        if record.status == Status.LOADING:
            strategy = strategy_for(rule.mode, rule.backups)
            job = LoadJob(load_id, record.target_schema, record.target_table)
            with self.backend.reading() as conn:
                committed = strategy.is_committed(conn, self.backend, job)
                counts = strategy.committed_values(conn, self.backend, job) if committed else {}
            if committed:  # a stream's batch has no file to archive
                target = (archive_path(rule.path, record.file_name, load_id, utcnow())
                          if OriginKind.of(record) is OriginKind.FILE else None)
                return self.state.end(load_id, Status.LOADING, Status.LOADED, move_to=target, **counts)
        if OriginKind.of(record) is OriginKind.STREAM:
            return self.state.end(load_id, Status(record.status), Status.FAILED,
                                  error=f"{record.file_name}: a stream's batch cut short (its stream reads it again)")
        if record.status == Status.LOADING:
            self.state.move(load_id, Status.LOADING, Status.CLAIMED, error=None)
        path = locate(record)
        if path is None:
            return self.state.end(load_id, Status.CLAIMED, Status.FAILED,
                                  error=f"{record.file_name}: the file was not found after a restart")
        taken_in = processing_path(rule.path, load_id, record.file_name)
        if path != taken_in:
            outside = not self.host.rules.holds(path)
            try:
                self.state.mover.relocate(load_id, path, taken_in, copy=outside)
            except OSError as exc:
                return self.host.not_taken_in(load_id, path, rule, taken_in, exc, outside)
        elif record.current_path != str(taken_in) or record.pending_move_to:  # moved, not yet recorded
            self.state.update(load_id, current_path=str(taken_in), pending_move_to=None)
        return self.host.run(load_id, rule, tries=tries)

    def resume_set(self, record: FileRecord, rule: FolderRule) -> Outcome:
        """A part found `loading`: its set's swap committed (every part is marked `loaded`), or
        the set waits again and is loaded again whole."""
        sets = self.host.sets
        assert record.set_id is not None, "a part of a set"
        again = False
        with sets.handling(record.set_id) as mine:
            found = sets.store.get(record.set_id)
            if mine and found is not None and found.status == SetStatus.LOADING:
                with self.backend.reading() as conn:
                    committed = sets.store.committed(conn, found.set_id)
                if committed:
                    log.info("%s: its swap had committed; marking its parts loaded", describe_set(found))
                    sets.store.finish_committed(found.set_id, rule)
                    sets.finish_moves(found.set_id)
                elif all(self.state.take_over(part.load_id) for part in sets.store.parts(found.set_id)
                         if part.status == Status.LOADING):
                    sets.store.release(found.set_id)
                    log.info("%s: not committed; loading it again whole", describe_set(found))
                    again = True
        if again:
            sets.load(record.set_id, rule)
        return self.host.outcome_of(record.load_id)
