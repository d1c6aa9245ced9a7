"""One file's life, stage by stage: hash, claim, take in, load, archive or fail.

`process` takes a stable file from its folder to its end; `resume` re-enters the same
stages for a file found in flight after a crash or taken over from another instance
(`monitor.load.recovery` decides how, from the state found).
The load itself is a `LoadRun`; the moves between folders are `Mover`'s. A fullload older
than the snapshot loaded now ends `superseded`; a part of a snapshot set takes the set's
stages (`SetFlow`: it waits for the rest of its set, which then loads as one snapshot).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.backends import Backend
from monitor.config import FolderRule, Settings
from monitor.errors import first_line
from monitor.intake.folders import (
    archive_path,
    disk_problem,
    failed_path,
    free_path,
    move_file,
    processing_path,
    readable_name,
    rejects_path,
)
from monitor.intake.hashing import stable_sha256
from monitor.intake.rules import RuleBook
from monitor.load.expand import expand_zip
from monitor.load.origin import Origin, OriginKind, RecordBatch
from monitor.load.read.rejects import RejectSink
from monitor.load.read.snapshots import Superseded, snapshot_date, superseded_reason
from monitor.load.recovery import Recovery
from monitor.load.sets.flow import SetFlow
from monitor.load.state import journal
from monitor.load.state.inflight import InFlight, Progress
from monitor.load.state.machine import Claim, ClaimKind, FileFacts, StateStore, Status, TransitionError, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.load.write.batch import load_batch
from monitor.load.write.isolation import failure_message, is_transient
from monitor.load.write.run import LoadCancelled, LoadRun, RunContext
from monitor.records import FileRecord
from monitor.source import SourceError, compression_of, zip_members

log = logging.getLogger("monitor.pipeline")
REFUSED_TRIES = 3  # loads of one file the database refuses, while it answers, before the file fails
REFUSED_PAUSE_SECONDS = 1.0  # times the try number, between two such loads


class Pipeline:
    """Runs files through their stages against one backend."""

    def __init__(self, settings: Settings, backend: Backend, state: StateStore) -> None:
        self.settings = settings
        self.backend = backend
        self.state = state
        self.rules = RuleBook(settings)
        self.in_flight = InFlight()
        self.mover = state.mover
        self.cancel = threading.Event()  # set: loads in flight roll back at their next batch
        self.context = RunContext(backend, state, settings.batch_rows, settings.lease_seconds, self.cancel,
                                  settings.limits)
        self._target_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.sets = SetFlow(self)
        self.recovery = Recovery(self)

    def target_lock(self, target: str) -> threading.Lock:
        """The lock a fullload of `target` holds in this process while it loads."""
        return self._target_locks[target]

    # -- entry points ------------------------------------------------------------------
    def process(
        self,
        path: Path,
        rule: FolderRule,
        *,
        discovered_at: datetime | None = None,
        keep_source: bool = False,
        replay_of: int | None = None,
        expand: bool = True,
        name: str | None = None,
    ) -> Outcome:
        """Take one stable file through every stage. `keep_source` copies instead of
        moving (for files given on the command line from outside a watched folder);
        `name` is the name it is recorded and archived under (its own by default: a retry
        keeps the name the file was dropped with).
        A symbolic link is refused unread; a zip of several CSV files is loaded member
        by member (`expand_zip`; `expand=False` for the members themselves). A name that is
        not valid UTF-8 is first renamed in its folder (`readable_name`)."""
        try:
            shown = readable_name(path.name)
            if shown is not None and keep_source:
                return Outcome(shown, OutcomeKind.FAILED,
                               error=f"{shown}: the file name is not valid UTF-8 (no database stores it): rename it")
            if shown is not None:
                path = self._rename_readable(path)
            if path.is_symlink():
                return self._refuse_link(path, rule, discovered_at, keep_source)
            if replay_of is None and expand and compression_of(path) == "zip":
                members = zip_members(path, self.settings.limits)
                if len(members) > 1:
                    return expand_zip(self, path, rule, members, discovered_at, keep_source)
        except FileNotFoundError:
            return _vanished(path, "the file disappeared before it was hashed")
        except SourceError:
            pass  # an unreadable zip is loaded as one file, and fails with the reason
        try:
            sha256, size, stat = stable_sha256(path)
        except FileNotFoundError:
            return _vanished(path, "the file disappeared before it was hashed")
        name = name or path.name
        facts = FileFacts(str(path.resolve()), name, sha256, size, discovered_at, snapshot_date(rule, name))
        schema = self.backend.schema_for(rule.reference)
        archive_to = None if keep_source else (lambda load_id: archive_path(rule.path, name, load_id, utcnow()))
        claim = self.state.claim(facts, schema, rule.table, rule.mode, replay_of=replay_of, archive_to=archive_to)
        if claim.kind is ClaimKind.BUSY:
            return Outcome(path.name, OutcomeKind.BUSY, target=f"{schema}.{rule.table}",
                           error="the same content is being loaded into this target right now")
        if claim.kind is ClaimKind.VANISHED:
            return _vanished(path, "the file left its folder (taken by another instance)")
        assert claim.load_id is not None
        with self.in_flight.holding(claim.load_id):
            return self._take_in(claim, path, rule, keep_source, stat)

    @staticmethod
    def _rename_readable(path: Path) -> Path:
        """Rename a file whose name no database stores, in its folder, to its name read as
        Windows-1252 (a free name: nothing is written over)."""
        readable = readable_name(path.name) or path.name
        target = free_path(path.parent, readable, 0)
        move_file(path, target)
        log.warning("%r: the file name is not valid UTF-8 (no database stores it); renamed %s",
                    os.fsencode(path.name), target.name)
        return target

    def fail_unread(self, path: Path, rule: FolderRule, facts: FileFacts, message: str, keep_source: bool) -> Outcome:
        """Record a file that is refused before it is read: claimed, then failed (and moved
        to `failed/` with its `.error.txt`, unless it is kept where it is)."""
        schema = self.backend.schema_for(rule.reference)
        claim = self.state.claim(facts, schema, rule.table, rule.mode)
        if claim.kind is not ClaimKind.CLAIMED or claim.load_id is None:
            return Outcome(path.name, OutcomeKind.BUSY, target=f"{schema}.{rule.table}", error=message)
        target = None if keep_source else failed_path(rule.path, path.name, claim.load_id)
        return self.state.end(claim.load_id, Status.CLAIMED, Status.FAILED, move_to=target, error=message)

    def _refuse_link(self, path: Path, rule: FolderRule, discovered_at: datetime | None, keep_source: bool) -> Outcome:
        """A symbolic link is never followed: its target (maybe outside the watched folder)
        is not read. The audit row's sha256 is that of the link itself (path and target)."""
        target = os.readlink(path)
        outside = path.resolve().parent != rule.path.resolve()
        where = "outside the watched folder; its target is not read" if outside else "links are not followed"
        message = f"{path.name}: refused: a symbolic link to {target} ({where}); drop the file itself"
        digest = hashlib.sha256(f"symlink\0{path.absolute()}\0{target}".encode()).hexdigest()
        facts = FileFacts(str(path.absolute()), path.name, digest, 0, discovered_at)
        return self.fail_unread(path, rule, facts, message, keep_source)

    def _take_in(self, claim: Claim, path: Path, rule: FolderRule, keep_source: bool,
                 hashed: tuple[int, int] | None) -> Outcome:
        assert claim.load_id is not None
        if claim.kind is ClaimKind.DUPLICATE:  # born ended (`StateStore.claim`)
            return self.state.ended(claim.load_id)
        taken_in = processing_path(rule.path, claim.load_id, path.name)
        try:
            self.mover.relocate(claim.load_id, path, taken_in, copy=keep_source)
        except FileNotFoundError:
            return self.state.end(claim.load_id, Status.CLAIMED, Status.FAILED,
                                  error=f"{path.name}: the file disappeared before it could be taken in")
        except OSError as exc:
            return self.not_taken_in(claim.load_id, path, rule, taken_in, exc, keep_source)
        return self.run(claim.load_id, rule, hashed)

    def not_taken_in(self, load_id: int, path: Path, rule: FolderRule, taken_in: Path, exc: OSError,
                     keep_source: bool) -> Outcome:
        """A file that cannot be moved into `processing/` fails, saying why, and goes to
        `failed/` from where it was dropped (when it may be moved at all)."""
        message = (f"{path.name}: cannot be taken in to {taken_in.parent}: {disk_problem(exc, taken_in.parent)}; "
                   "not loaded")
        target = None if keep_source else failed_path(rule.path, path.name, load_id)
        self.state.update(load_id, current_path=str(path), pending_move_to=None)
        return self.state.end(load_id, Status.CLAIMED, Status.FAILED, move_to=target, error=message)

    def run(self, load_id: int, rule: FolderRule, hashed: tuple[int, int] | None = None, tries: int = 1) -> Outcome:
        """Load a claimed file that sits in `processing/`, then archive it or fail it (a part of
        a set joins its set instead). `hashed` is its (size, mtime) when it was hashed,
        checked before it is read.

        An error that may mean the database is gone is told apart by a ping: no answer, and
        it goes up (the file resumes when the database is back); an answer, and the database
        refused this file's load: tried again, `REFUSED_TRIES` times in all, then failed."""
        row = self.state.get(load_id)
        assert row is not None
        part = self.sets.part(row, rule)
        if part is not None:
            return self.sets.arrive(row, rule, part)
        path = Path(row.current_path)
        target = f"{row.target_schema}.{row.target_table}"
        lock = self._target_locks[target] if rule.mode == "fullload" else nullcontext()
        with lock, self.in_flight.loading(load_id, row.file_name, target) as progress:
            ended = self._superseded(row, rule, Status.CLAIMED)
            if ended is not None:
                return ended
            self.state.move(load_id, Status.CLAIMED, Status.LOADING, started_at=utcnow())
            journal.started(load_id, row.file_name, target, row.size_bytes)
            result = self._load(row, rule, path, progress, hashed, tries)
        if isinstance(result, str):
            return self._try_again(row, rule, result, tries)
        return result

    def _load(self, row: FileRecord, rule: FolderRule, path: Path, progress: Progress,
              hashed: tuple[int, int] | None, tries: int) -> Outcome | str:
        """One try at a `loading` file: its outcome once it ended (loaded, failed) or was given
        back, or the database's refusal when the file is to be tried again."""
        load_id = row.load_id
        try:
            LoadRun(self.context, row, rule, path, progress, hashed).execute()
        except Superseded as exc:
            return self._superseded(row, rule, Status.LOADING, str(exc)) or self.outcome_of(load_id)
        except LoadCancelled:
            self.state.release(load_id)
            log.warning("rolled back %s (load %s): the daemon is stopping; it resumes on the next start",
                        row.file_name, load_id)
        except TransitionError as exc:
            log.warning("%s (load %s) was taken over by another instance; leaving it: %s",
                        row.file_name, load_id, exc)
        except Exception as exc:
            transient = is_transient(exc)
            if transient and not self.database_answers():
                log.warning("database unavailable while loading %s (load %s): %s",
                            row.file_name, load_id, first_line(exc))
                raise
            message = failure_message(exc, row.file_name)
            if transient and tries < REFUSED_TRIES:
                return message
            if transient:
                message += f" ({tries} tries; the database answers, so the file is the cause)"
            return self._fail(load_id, path, rule, message)
        else:
            progress.phase = "archiving"
            return self.state.ended(load_id)
        return self.outcome_of(load_id)

    def _try_again(self, row: FileRecord, rule: FolderRule, message: str, tries: int) -> Outcome:
        """Load a file once more after the database refused it while it answered (a lock
        timeout, a deadlock, a server limit): after a pause, through `resume`, which first
        looks whether the data committed."""
        log.warning("the database refused %s (load %s, try %d of %d) while it answers: %s; trying again",
                    row.file_name, row.load_id, tries, REFUSED_TRIES, message)
        self.state.update(row.load_id, attempts=row.attempts + 1, error=message)
        self.cancel.wait(REFUSED_PAUSE_SECONDS * tries)
        fresh = self.state.get(row.load_id)
        assert fresh is not None
        return self.recovery.resume(fresh, rule, tries + 1)

    def database_answers(self) -> bool:
        """Whether the database answers a ping now (after an error that may be an outage)."""
        try:
            self.backend.ping()
        except Exception:  # any failure to answer is the answer
            return False
        return True

    def resume(self, row: FileRecord, rule: FolderRule) -> Outcome:
        """Re-enter the machine for a file found in flight after a crash or takeover
        (`monitor.load.recovery`, which holds every resume path)."""
        with self.in_flight.holding(row.load_id):
            return self.recovery.resume(row, rule)

    def load_records(self, batch: RecordBatch, rule: FolderRule) -> Outcome:
        """Load a batch of records with an origin (a stream's) through the same state and audit
        path as a file: claimed under its name (its content, loaded into this target before, is a
        duplicate), written by the rule's strategy, ended (`monitor.load.write.batch`)."""
        schema = self.backend.schema_for(rule.reference)
        facts = FileFacts(batch.path, batch.name, batch.sha256(), batch.size(), kind=OriginKind.STREAM)
        claim = self.state.claim(facts, schema, rule.table, rule.mode)
        if claim.kind is ClaimKind.BUSY or claim.load_id is None:
            return Outcome(batch.name, OutcomeKind.BUSY, target=f"{schema}.{rule.table}",
                           error="the same records are being loaded into this target right now")
        if claim.kind is ClaimKind.DUPLICATE:
            return self.state.ended(claim.load_id)
        with self.in_flight.holding(claim.load_id):
            return load_batch(self.context, Origin(OriginKind.STREAM, batch.name, claim.load_id), rule, batch)

    def load_set(self, set_id: int, rule: FolderRule) -> Outcome:
        """Load a complete snapshot set found waiting (by the daemon's sweep)."""
        return self.sets.load(set_id, rule)

    # -- endings -----------------------------------------------------------------------
    def _superseded(self, row: FileRecord, rule: FolderRule, source: Status,
                    reason: str | None = None) -> Outcome | None:
        """End a fullload older than the snapshot loaded now `superseded` (archived, saying why);
        None when it may load (always for a replay, which loads on purpose)."""
        if reason is None:
            if rule.mode != "fullload" or row.replay_of is not None:
                return None
            with self.backend.reading() as conn:
                reason = superseded_reason(conn, self.backend, row.target_schema, row.target_table,
                                           row.snapshot_date)
            if reason is None:
                return None
        log.warning("%s (load %s) into %s.%s: %s", row.file_name, row.load_id, row.target_schema,
                    row.target_table, reason)
        target = archive_path(rule.path, row.file_name, row.load_id, utcnow())
        return self.state.end(row.load_id, source, Status.SUPERSEDED, move_to=target, error=reason, rows_read=0,
                              rows_loaded=0)

    def _fail(self, load_id: int, path: Path, rule: FolderRule, message: str) -> Outcome:
        """Mark the file failed, recording its move to `failed/` in the same transaction."""
        row = self.state.get(load_id)
        assert row is not None
        target = failed_path(rule.path, row.file_name, load_id) if path.exists() else None
        found = RejectSink.reopen(rejects_path(path))
        with self.backend.transaction() as conn:
            found.store(conn, load_id)  # records rejected before the failure stay on record
            self.state.end_in(conn, load_id, Status.LOADING, Status.FAILED, move_to=target, error=message,
                              rows_rejected=found.count)
        return self.state.ended(load_id)

    def outcome_of(self, load_id: int) -> Outcome:
        """How a load stands now, from its audit row."""
        row = self.state.get(load_id)
        assert row is not None
        journal.ended(row)
        return Outcome.from_row(row)

    def snapshot(self) -> dict[int, dict[str, Any]]:
        """Loads in flight, for the status page and metrics."""
        return self.in_flight.snapshot()


def _vanished(path: Path, why: str) -> Outcome:
    return Outcome(path.name, OutcomeKind.VANISHED, error=why)


__all__ = ["LoadCancelled", "Outcome", "Pipeline", "TransitionError", "is_transient"]
