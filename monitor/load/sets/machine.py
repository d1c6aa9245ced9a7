"""Snapshot sets: the record (`ingest_sets`) that ties the parts of one snapshot together, and
the only way a set's state and its parts' states change together.

    waiting -> loading -> loaded | failed | superseded
    waiting -> failed | superseded;  loading -> waiting (rolled back: loaded again whole)

Every set transition is a conditional UPDATE on the expected state, checked by its row
count, in the same transaction as its parts' transitions (each with its event naming the
set). A part joins its set under a lock on the set's name: one open set per name and
target, one part per slot. A part arriving for a set already loaded is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from monitor.backends import Backend
from monitor.catalog import files, sets
from monitor.config import FolderRule
from monitor.intake.folders import archive_path, failed_path, rejects_path
from monitor.load.read.rejects import RejectSink
from monitor.load.read.snapshots import PartName, superseded_reason
from monitor.load.state.machine import StateStore, Status, TransitionError, utcnow
from monitor.records import FileRecord, SetRecord


class SetStatus(StrEnum):
    """Persisted set states."""

    WAITING = "waiting"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"
    SUPERSEDED = "superseded"


SET_TRANSITIONS: dict[SetStatus, set[SetStatus]] = {
    SetStatus.WAITING: {SetStatus.LOADING, SetStatus.FAILED, SetStatus.SUPERSEDED},
    SetStatus.LOADING: {SetStatus.LOADED, SetStatus.FAILED, SetStatus.SUPERSEDED, SetStatus.WAITING},
    SetStatus.LOADED: set(),
    SetStatus.FAILED: set(),
    SetStatus.SUPERSEDED: set(),
}
OPEN = (SetStatus.WAITING, SetStatus.LOADING)
PART_OF_SET = (Status.WAITING, Status.LOADING, Status.LOADED, Status.SUPERSEDED)  # a slot taken


class Arrival(StrEnum):
    """How a part's arrival ended."""

    WAITING = "waiting"  # in its set, which still lacks parts
    COMPLETE = "complete"  # in its set, which has every part now
    DUPLICATE = "duplicate"
    FAILED = "failed"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class Joined:
    """A part's arrival: how it ended, its set, and what to tell the operator."""

    kind: Arrival
    set_id: int | None
    note: str


def describe_set(row: SetRecord) -> str:
    """`set 12 (BasicCompanyData-2026-11-01)`."""
    return f"set {row.set_id} ({row.set_name})"


class SetStore:
    """Reads and moves snapshot sets and their parts, through the file state store."""

    def __init__(self, backend: Backend, state: StateStore) -> None:
        self.backend = backend
        self.state = state

    # -- reading -----------------------------------------------------------------------
    def get(self, set_id: int, conn: Connection | None = None) -> SetRecord | None:
        """One set's record."""
        if conn is None:
            with self.backend.reading() as reader:
                return self.get(set_id, reader)
        row = conn.execute(select(sets).where(sets.c.set_id == set_id)).first()
        return SetRecord.of(row) if row is not None else None

    def parts(self, set_id: int, conn: Connection | None = None) -> list[FileRecord]:
        """The audit rows of a set's parts, by part number."""
        query = select(files).where(files.c.set_id == set_id).order_by(files.c.set_part, files.c.load_id)
        if conn is not None:
            return FileRecord.all(conn.execute(query))
        with self.backend.reading() as reader:
            return FileRecord.all(reader.execute(query))

    def ready(self) -> list[SetRecord]:
        """Waiting sets that have every part (a crash came between the last arrival and the load)."""
        arrived = (select(func.count()).where(files.c.set_id == sets.c.set_id, files.c.status == Status.WAITING.value)
                   .scalar_subquery())
        query = select(sets).where(sets.c.status == SetStatus.WAITING.value, arrived >= sets.c.part_count)
        with self.backend.reading() as conn:
            return SetRecord.all(conn.execute(query.order_by(sets.c.set_id)))

    def overdue(self, timeouts: dict[str, float], now: datetime | None = None) -> list[SetRecord]:
        """Waiting sets older than their target's `set_timeout` (`schema.table` -> seconds), not
        yet reported."""
        now = now or utcnow()
        query = select(sets).where(sets.c.status == SetStatus.WAITING.value, sets.c.overdue_at.is_(None))
        with self.backend.reading() as conn:
            found = SetRecord.all(conn.execute(query.order_by(sets.c.set_id)))
        return [row for row in found if f"{row.target_schema}.{row.target_table}" in timeouts
                and row.first_seen_at < now - timedelta(seconds=timeouts[f"{row.target_schema}.{row.target_table}"])]

    def mark_overdue(self, set_id: int) -> None:
        """Record that an incomplete set was reported (once)."""
        with self.backend.transaction() as conn:
            conn.execute(update(sets).where(sets.c.set_id == set_id).values(overdue_at=utcnow()))

    # -- arrival -------------------------------------------------------------------------
    def join(self, row: FileRecord, part: PartName, rule: FolderRule, replay_set: int | None) -> Joined:
        """A claimed part sitting in `processing/` joins its set (made when it is the first):
        it waits; or it completes the set; or it repeats a part already there (`duplicate`),
        is at odds with its set (`failed`), or is older than the snapshot loaded now
        (`superseded`, with its set). Moves are recorded; the caller finishes them."""
        schema, table = row.target_schema, row.target_table
        with self.backend.transaction() as conn:
            self.backend.lock_target(conn, schema, f"{table} set {part.set_name}")
            if part.problem:
                return self._refuse(conn, row, rule, None, f"{row.file_name}: {part.problem}: not a part of a set")
            found = self._latest(conn, schema, table, part.set_name, replay_set)
            if found is not None and found.status == SetStatus.LOADED and replay_set is None:
                return self._repeat(conn, row, rule, found, part)
            if found is not None and found.status in OPEN:
                if found.part_count != part.count:
                    return self._refuse(conn, row, rule, found, f"{row.file_name}: its name says {part} of "
                                        f"{part.set_name}, but {describe_set(found)} has {found.part_count} parts: "
                                        "not loaded")
                slot = self._slot(conn, found.set_id, part.part)
                if slot is not None:
                    return self._repeat(conn, row, rule, found, part, slot)
                twin = next((p for p in self._waiting(conn, found.set_id) if p.sha256 == row.sha256), None)
                if twin is not None:  # one content is loaded into a target once: the set could never load
                    return self._refuse(conn, row, rule, found, f"{row.file_name}: {part} of {describe_set(found)} "
                                        f"has the same content as part {twin.set_part} (load {twin.load_id}, "
                                        f"{twin.file_name}): not loaded")
            reason = None if replay_set is not None else superseded_reason(conn, self.backend, schema, table,
                                                                           row.snapshot_date)
            if found is None or found.status not in (*OPEN, SetStatus.SUPERSEDED):
                found = self._create(conn, row, part, replay_set)
            if reason is not None or found.status == SetStatus.SUPERSEDED:
                note = reason or str(found.error)
                self._supersede(conn, found, rule, note, arriving=(row, part.part))
                return Joined(Arrival.SUPERSEDED, found.set_id, note)
            arrived = len(self._waiting(conn, found.set_id)) + 1
            detail = f"{part} of {describe_set(found)}: {arrived} of {part.count} here"
            self.state.transition(conn, row.load_id, Status.CLAIMED, Status.WAITING, set_id=found.set_id,
                                  set_part=part.part, detail=detail)
            if arrived < part.count:
                return Joined(Arrival.WAITING, found.set_id, f"{detail}; waiting for the rest")
            conn.execute(update(sets).where(sets.c.set_id == found.set_id).values(complete_at=utcnow()))
            return Joined(Arrival.COMPLETE, found.set_id, f"{detail}: complete")

    def _latest(self, conn: Connection, schema: str, table: str, name: str, replay_set: int | None) -> SetRecord | None:
        replay = sets.c.replay_of.is_(None) if replay_set is None else sets.c.replay_of == replay_set
        query = (select(sets).where(sets.c.target_schema == schema, sets.c.target_table == table,
                                    sets.c.set_name == name, replay)
                 .order_by(sets.c.set_id.desc()).limit(1))
        row = conn.execute(query).first()
        return SetRecord.of(row) if row is not None else None

    def _slot(self, conn: Connection, set_id: int, part: int) -> FileRecord | None:
        query = select(files).where(files.c.set_id == set_id, files.c.set_part == part,
                                    files.c.status.in_([s.value for s in PART_OF_SET]))
        row = conn.execute(query.limit(1)).first()
        return FileRecord.of(row) if row is not None else None

    def _waiting(self, conn: Connection, set_id: int) -> list[FileRecord]:
        query = select(files).where(files.c.set_id == set_id, files.c.status == Status.WAITING.value)
        return FileRecord.all(conn.execute(query.order_by(files.c.set_part)))

    def _create(self, conn: Connection, row: FileRecord, part: PartName, replay_set: int | None) -> SetRecord:
        result = conn.execute(insert(sets).values(
            set_name=part.set_name, target_schema=row.target_schema, target_table=row.target_table,
            part_count=part.count, status=SetStatus.WAITING.value, snapshot_date=row.snapshot_date,
            first_seen_at=utcnow(), replay_of=replay_set,
        ))
        key = result.inserted_primary_key
        assert key is not None, "an INSERT of one row returns its key"
        created = self.get(int(key[0]), conn)
        assert created is not None
        return created

    def _repeat(self, conn: Connection, row: FileRecord, rule: FolderRule, found: SetRecord, part: PartName,
                slot: FileRecord | None = None) -> Joined:
        """A part whose slot is taken: a duplicate of the same content, or of the part of a set
        already loaded; a different content for a part of an open set is refused."""
        slot = slot or self._slot(conn, found.set_id, part.part)
        if slot is None:  # a loaded set without this part cannot be: refuse rather than guess
            return self._refuse(conn, row, rule, found, f"{row.file_name}: {describe_set(found)} is loaded and "
                                f"has no {part}: not loaded")
        if slot.sha256 != row.sha256 and found.status != SetStatus.LOADED:
            return self._refuse(conn, row, rule, found, f"{row.file_name}: {part} of {describe_set(found)} is "
                                f"already here as load {slot.load_id} ({slot.file_name}) with other content: "
                                "not loaded")
        same = "same content" if slot.sha256 == row.sha256 else "other content (the set is loaded already)"
        note = f"{part} of {describe_set(found)}: {same} as load {slot.load_id}"
        self.state.end_in(conn, row.load_id, Status.CLAIMED, Status.DUPLICATE, duplicate_of=slot.load_id,
                          rows_read=0, rows_loaded=0, rows_rejected=0, detail=note,
                          move_to=archive_path(rule.path, row.file_name, row.load_id, utcnow()))
        return Joined(Arrival.DUPLICATE, found.set_id, note)

    def _refuse(self, conn: Connection, row: FileRecord, rule: FolderRule, found: SetRecord | None,
                message: str) -> Joined:
        self.state.end_in(conn, row.load_id, Status.CLAIMED, Status.FAILED, error=message,
                          move_to=failed_path(rule.path, row.file_name, row.load_id))
        return Joined(Arrival.FAILED, found.set_id if found is not None else None, message)

    # -- the set's transitions ------------------------------------------------------------
    def _move_set(self, conn: Connection, set_id: int, source: SetStatus, target: SetStatus, **values: Any) -> None:
        if target not in SET_TRANSITIONS[source]:
            raise TransitionError(f"set {set_id}: {source} -> {target} is not a transition")
        result = conn.execute(update(sets).where(sets.c.set_id == set_id, sets.c.status == source.value)
                              .values(status=target.value, **values))
        if result.rowcount != 1:
            raise TransitionError(f"set {set_id} was not {source} any more")

    def start(self, set_id: int) -> list[FileRecord] | None:
        """Take a complete waiting set and all its parts to `loading` for this instance; None
        when it is not waiting and complete any more (another worker or instance took it)."""
        now = utcnow()
        with self.backend.transaction() as conn:
            found = self.get(set_id, conn)
            if found is None or found.status != SetStatus.WAITING:
                return None
            parts = self._waiting(conn, set_id)
            if len(parts) != found.part_count:
                return None
            try:
                self._move_set(conn, set_id, SetStatus.WAITING, SetStatus.LOADING, started_at=now,
                               claimed_by=self.state.instance, error=None)
            except TransitionError:
                return None
            for part in parts:
                self.state.transition(conn, part.load_id, Status.WAITING, Status.LOADING, started_at=now,
                                      claimed_by=self.state.instance,
                                      detail=f"{describe_set(found)}: every part here: loading as one snapshot")
        return self.parts(set_id)

    def loaded(self, conn: Connection, set_id: int, rows: int, rejected: int, note: str | None) -> None:
        """The set's swap commits in `conn` (its parts are marked by their runs)."""
        self._move_set(conn, set_id, SetStatus.LOADING, SetStatus.LOADED, finished_at=utcnow(), rows_loaded=rows,
                       rows_rejected=rejected, error=note)

    def release(self, set_id: int) -> None:
        """A set whose load rolled back (the daemon stopping) waits again, whole, to be loaded again."""
        with self.backend.transaction() as conn:
            found = self.get(set_id, conn)
            assert found is not None
            self._move_set(conn, set_id, SetStatus.LOADING, SetStatus.WAITING, claimed_by=None, started_at=None)
            detail = f"{describe_set(found)}: rolled back; waiting to be loaded again whole"
            for part in self.parts(set_id, conn):
                if part.status == Status.LOADING:
                    self.state.transition(conn, part.load_id, Status.LOADING, Status.WAITING, detail=detail)

    def fail(self, set_id: int, rule: FolderRule, message: str, culprit: int | None) -> None:
        """The set fails, and every part with it (each moved to `failed/`, saying why); the
        part at fault (`culprit`) carries the error itself. Rejects found so far are kept."""
        with self.backend.transaction() as conn:
            found = self.get(set_id, conn)
            assert found is not None
            self._move_set(conn, set_id, SetStatus(found.status), SetStatus.FAILED, error=message,
                           finished_at=utcnow())
            for part in self.parts(set_id, conn):
                if part.status not in (Status.WAITING, Status.LOADING):
                    continue
                error = message if part.load_id == culprit else (
                    f"{part.file_name}: not loaded: {describe_set(found)} failed: {message}")
                path = Path(part.current_path)
                sink = RejectSink.reopen(rejects_path(path))
                sink.store(conn, part.load_id)
                target = failed_path(rule.path, part.file_name, part.load_id) if path.exists() else None
                self.state.end_in(conn, part.load_id, Status(part.status), Status.FAILED, error=error,
                                  rows_rejected=sink.count, move_to=target)

    def supersede(self, set_id: int, rule: FolderRule, reason: str) -> None:
        """The set is older than the snapshot loaded now: it and its parts end `superseded`."""
        with self.backend.transaction() as conn:
            found = self.get(set_id, conn)
            assert found is not None
            self._supersede(conn, found, rule, reason)

    def _supersede(self, conn: Connection, found: SetRecord, rule: FolderRule, reason: str,
                   arriving: tuple[FileRecord, int] | None = None) -> None:
        """The set and its parts in flight end `superseded` (and the part `arriving`, with its number)."""
        if found.status != SetStatus.SUPERSEDED:
            self._move_set(conn, found.set_id, SetStatus(found.status), SetStatus.SUPERSEDED, error=reason,
                           finished_at=utcnow())
        ending = [(part, part.set_part) for part in self.parts(found.set_id, conn)]
        for part, number in [*ending, *([arriving] if arriving else [])]:
            if part.status not in (Status.CLAIMED, Status.WAITING, Status.LOADING):
                continue
            archive = archive_path(rule.path, part.file_name, part.load_id, utcnow())
            self.state.end_in(conn, part.load_id, Status(part.status), Status.SUPERSEDED, error=reason,
                              set_id=found.set_id, set_part=number, move_to=archive, rows_read=0, rows_loaded=0)

    def committed(self, conn: Connection, set_id: int) -> bool:
        """After a crash: did this set's swap commit? (The target's rows carry its parts' ids.)"""
        found = self.get(set_id, conn)
        if found is None or not self.backend.table_exists(conn, found.target_schema, found.target_table):
            return False
        ids = {part.load_id for part in self.parts(set_id, conn)}
        return self.backend.load_id_of(conn, found.target_schema, found.target_table) in ids

    def finish_committed(self, set_id: int, rule: FolderRule) -> None:
        """Mark a set whose swap committed (and its parts) loaded, counting each part's rows."""
        with self.backend.transaction() as conn:
            found = self.get(set_id, conn)
            assert found is not None
            total = 0
            for part in self.parts(set_id, conn):
                rows = self.backend.rows_of_load(conn, found.target_schema, found.target_table, part.load_id)
                total += rows
                self.state.end_in(
                    conn, part.load_id, Status.LOADING, Status.LOADED, rows_read=rows, rows_loaded=rows,
                    move_to=archive_path(rule.path, part.file_name, part.load_id, utcnow()),
                    detail=f"{describe_set(found)}: its swap had committed")
            self.loaded(conn, set_id, total, 0, None)
