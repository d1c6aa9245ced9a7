"""The file state machine: the only way a file's persisted state changes.

In memory a file is discovered -> stable -> hashed; from the claim on, its state
lives in `ingest_files` and moves only through `StateStore`:

    claimed -> loading -> loaded | failed        (claimed -> failed on early errors)
    loading -> claimed                           (taken over after a crash, redone)
    duplicate                                    (terminal from the start)
    claimed | loading -> superseded              (a fullload older than the snapshot loaded now)

A part of a snapshot set (`monitor.load.sets.machine`) waits for the rest of its set, then loads
with it; its set record moves alongside, in the same transactions:

    claimed -> waiting -> loading -> loaded | failed | superseded
    claimed -> duplicate | failed | superseded   (on arrival: a part already there, at odds, older)
    waiting -> failed | superseded; loading -> waiting  (a set rolled back is loaded again whole)

Every transition is a conditional UPDATE on the expected current state, checked
by its row count, and writes an `ingest_events` row in the same transaction.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from monitor.backends import Backend
from monitor.catalog import events, files
from monitor.load.origin import OriginKind
from monitor.load.state import journal
from monitor.load.state.moves import Mover
from monitor.load.state.outcome import Outcome
from monitor.load.state.status import IN_FLIGHT, TERMINAL, TRANSITIONS, Status, TransitionError, utcnow
from monitor.records import FileRecord


class ClaimKind(StrEnum):
    """How a claim ended: a new `claimed` row, a `duplicate` row, or nothing written because
    the same content is in flight (`busy`) or the file left its folder (`vanished`)."""

    CLAIMED = "claimed"
    DUPLICATE = "duplicate"
    BUSY = "busy"
    VANISHED = "vanished"


@dataclass(frozen=True)
class FileFacts:
    """What is known of a file once hashed."""

    path: str
    name: str
    sha256: str
    size: int
    discovered_at: datetime | None = None
    snapshot_date: date | None = None  # fullload: the date in its name
    kind: OriginKind = OriginKind.FILE  # a stream's batch has no file to look for (`monitor.load.origin`)

    def gone(self) -> bool:
        """A file that left its folder (another instance took it); never a stream's batch."""
        return self.kind is OriginKind.FILE and not Path(self.path).exists()


@dataclass(frozen=True)
class Claim:
    """The result of claiming a file (`ClaimKind`), with the load id of the row written."""

    kind: ClaimKind
    load_id: int | None = None
    duplicate_of: int | None = None


def _who() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return socket.gethostname(), user


class StateStore:
    """Reads and moves persisted file states for one daemon instance."""

    def __init__(self, backend: Backend, instance: str, lease_seconds: float = 60.0) -> None:
        self.backend = backend
        self.instance = instance
        self.lease = timedelta(seconds=lease_seconds)
        self.host, self.user = _who()
        self.mover = Mover(self)  # a load's file follows its state: moves recorded here, made there

    # -- claims ------------------------------------------------------------------------
    def claim(
        self, facts: FileFacts, schema: str, table: str, mode: str, *, replay_of: int | None = None,
        archive_to: Callable[[int], Path] | None = None,
    ) -> Claim:
        """Claim a file's content for a target: a new `claimed` row, or a `duplicate`
        row when that content is already loaded there (recording its move to
        `archive_to(load_id)` when given), or `busy` while another load of the same
        content is in flight, or `vanished` when the file left its folder meanwhile
        (another instance took it)."""
        for _ in range(3):
            if replay_of is None:
                loaded = self._loaded_copy(facts.sha256, schema, table)
                if loaded is not None:
                    return self._record_duplicate(facts, schema, table, mode, loaded, archive_to)
            if facts.gone():
                return Claim(ClaimKind.VANISHED)
            try:
                with self.backend.transaction() as conn:
                    load_id = self._insert(conn, facts, schema, table, mode, Status.CLAIMED, replay_of)
                    self._event(conn, load_id, Status.CLAIMED, f"claimed {facts.path}")
                return Claim(ClaimKind.CLAIMED, load_id)
            except IntegrityError:
                if self._loaded_copy(facts.sha256, schema, table) is None:
                    return Claim(ClaimKind.BUSY)
        return Claim(ClaimKind.BUSY)

    def _loaded_copy(self, sha256: str, schema: str, table: str) -> int | None:
        query = select(files.c.load_id).where(
            files.c.sha256 == sha256,
            files.c.target_schema == schema,
            files.c.target_table == table,
            files.c.status == Status.LOADED.value,
            files.c.replay_of.is_(None),
        )
        with self.backend.reading() as conn:
            return conn.execute(query).scalar()

    def _record_duplicate(
        self, facts: FileFacts, schema: str, table: str, mode: str, original: int,
        archive_to: Callable[[int], Path] | None = None,
    ) -> Claim:
        with self.backend.transaction() as conn:
            # One duplicate record per dropped file, even when several instances see it:
            # under a lock on the path, the file must still be there and not already be
            # on its way to the archive as another duplicate.
            self.backend.lock_target(conn, None, f"file:{facts.path}")
            if facts.gone():
                return Claim(ClaimKind.VANISHED)
            moving = conn.execute(
                select(files.c.load_id).where(
                    files.c.target_schema == schema, files.c.target_table == table,
                    files.c.sha256 == facts.sha256, files.c.status == Status.DUPLICATE.value,
                    files.c.current_path == facts.path, files.c.pending_move_to.is_not(None),
                ).limit(1)
            ).scalar()
            if moving is not None:
                return Claim(ClaimKind.BUSY)
            load_id = self._insert(conn, facts, schema, table, mode, Status.DUPLICATE, None)
            now = utcnow()
            conn.execute(
                update(files)
                .where(files.c.load_id == load_id)
                .values(duplicate_of=original, finished_at=now, rows_read=0, rows_loaded=0,
                        rows_rejected=0, duration_ms=0, lease_expires=None,
                        pending_move_to=str(archive_to(load_id)) if archive_to else None)
            )
            self._event(conn, load_id, Status.DUPLICATE, f"same content as load {original}")
        return Claim(ClaimKind.DUPLICATE, load_id, original)

    def _insert(
        self, conn: Connection, facts: FileFacts, schema: str, table: str, mode: str,
        status: Status, replay_of: int | None,
    ) -> int:
        now = utcnow()
        result = conn.execute(
            insert(files).values(
                file_name=facts.name, source_path=facts.path, current_path=facts.path,
                sha256=facts.sha256, size_bytes=facts.size, target_schema=schema,
                target_table=table, mode=mode, status=status.value,
                discovered_at=facts.discovered_at, started_at=now, host=self.host,
                os_user=self.user, claimed_by=self.instance, lease_expires=now + self.lease,
                attempts=1, replay_of=replay_of, snapshot_date=facts.snapshot_date,
            )
        )
        key = result.inserted_primary_key
        assert key is not None, "an INSERT of one row returns its key"
        return int(key[0])

    # -- transitions -------------------------------------------------------------------
    def transition(
        self, conn: Connection, load_id: int, source: Status, target: Status, *, detail: str | None = None,
        **values: Any,
    ) -> None:
        """Move `load_id` from `source` to `target` inside `conn`'s transaction; only the
        instance holding the file's lease may (else `TransitionError`: it was taken over).
        The event says `detail`, else the error. A waiting part holds no lease and no holder."""
        if target not in TRANSITIONS[source]:
            raise TransitionError(f"load {load_id}: {source} -> {target} is not a transition")
        now = utcnow()
        if target in TERMINAL:
            values.setdefault("finished_at", now)
            values.setdefault("lease_expires", None)
        elif target is Status.WAITING:
            values.setdefault("lease_expires", None)
            values.setdefault("claimed_by", None)
        else:
            values.setdefault("lease_expires", now + self.lease)
        result = conn.execute(
            update(files)
            .where(files.c.load_id == load_id, files.c.status == source.value,
                   or_(files.c.claimed_by == self.instance, files.c.claimed_by.is_(None)))
            .values(status=target.value, **values)
        )
        if result.rowcount != 1:
            raise TransitionError(f"load {load_id} was not {source} for {self.instance} any more")
        self._event(conn, load_id, target, detail or values.get("error"))

    # -- the end of a load --------------------------------------------------------------
    def end(self, load_id: int, source: Status, target: Status, *, move_to: Path | None = None,
            detail: str | None = None, **values: Any) -> Outcome:
        """End a load: in one transaction of its own, its terminal transition (`end_in`); then
        its file moved where it was recorded to go, its end said in the log, and its outcome."""
        with self.backend.transaction() as conn:
            self.end_in(conn, load_id, source, target, move_to=move_to, detail=detail, **values)
        return self.ended(load_id)

    def end_in(self, conn: Connection, load_id: int, source: Status, target: Status, *,
               move_to: Path | None = None, detail: str | None = None, **values: Any) -> None:
        """The terminal transition of a load inside `conn`'s transaction (where its end commits
        with other work: its data's swap, the other parts of its set): its move to `move_to`
        recorded (None: the file stays where it is), its timings, and the staging table it made
        dropped. `ended` follows the commit."""
        if target not in TERMINAL:
            raise TransitionError(f"load {load_id}: {target} is not an end")
        if "finished_at" not in values:
            values.update(self.finish_timing(conn, load_id))
        values["pending_move_to"] = str(move_to) if move_to is not None else None  # none: it stays
        self.transition(conn, load_id, source, target, detail=detail, **values)
        self.drop_staging(conn, load_id)

    def ended(self, load_id: int) -> Outcome:
        """After a load's end committed: its recorded move made, its end logged, its outcome."""
        self.mover.finish_recorded(load_id)
        record = self.get(load_id)
        assert record is not None, "an ended load keeps its audit row"
        journal.ended(record)
        return Outcome.from_row(record)

    def staging_tables(self, record: FileRecord) -> list[str]:
        """The staging tables a load may make in its target's schema: a fullload's (or its set's,
        named after its first part), a merge's."""
        table, load_id = record.target_table, record.load_id
        return [self.backend.staging_name(table, load_id),
                self.backend.staging_of(record.target_schema, table, load_id).table]

    def drop_staging(self, conn: Connection, load_id: int) -> list[str]:
        """Drop the staging tables a load made and no longer needs; their names."""
        row = conn.execute(select(files).where(files.c.load_id == load_id)).first()
        if row is None:
            return []
        record = FileRecord.of(row)
        dropped = [name for name in self.staging_tables(record)
                   if self.backend.table_exists(conn, record.target_schema, name)]
        for name in dropped:
            self.backend.drop_table(conn, record.target_schema, name)
        return dropped

    def move(self, load_id: int, source: Status, target: Status, **values: Any) -> None:
        """A transition in a transaction of its own."""
        with self.backend.transaction() as conn:
            self.transition(conn, load_id, source, target, **values)

    def finish_timing(self, conn: Connection, load_id: int) -> dict[str, Any]:
        """`finished_at` and `duration_ms` for a load ending now."""
        started = conn.execute(select(files.c.started_at).where(files.c.load_id == load_id)).scalar()
        now = utcnow()
        duration = int((now - started).total_seconds() * 1000) if started else None
        return {"finished_at": now, "duration_ms": duration}

    def _event(self, conn: Connection, load_id: int, status: Status, detail: str | None) -> None:
        conn.execute(
            insert(events).values(
                load_id=load_id, at=utcnow(), status=status.value, detail=detail,
                instance=self.instance,
            )
        )

    def note(self, conn: Connection, load_id: int, detail: str) -> None:
        """An event in a load's history that changes nothing of its state."""
        status = conn.execute(select(files.c.status).where(files.c.load_id == load_id)).scalar_one()
        self._event(conn, load_id, Status(status), detail)

    def update(self, load_id: int, **values: Any) -> None:
        """Set non-state fields (paths, counts) of one file."""
        with self.backend.transaction() as conn:
            conn.execute(update(files).where(files.c.load_id == load_id).values(**values))

    # -- leases and recovery -----------------------------------------------------------
    def renew(self, load_ids: list[int]) -> None:
        """Extend this instance's leases on files it is working on."""
        if not load_ids:
            return
        with self.backend.transaction() as conn:
            conn.execute(
                update(files)
                .where(files.c.load_id.in_(load_ids), files.c.claimed_by == self.instance,
                       files.c.status.in_([s.value for s in IN_FLIGHT]))
                .values(lease_expires=utcnow() + self.lease)
            )

    def release(self, load_id: int) -> None:
        """Give back a load that was rolled back (`loading` -> `claimed`), its lease expired
        at once so that this or another instance resumes it without waiting (a second ago: a
        `DATETIME` column rounds to 1/300 s, which could put "now" a moment ahead)."""
        self.move(load_id, Status.LOADING, Status.CLAIMED, error=None, lease_expires=utcnow() - timedelta(seconds=1))

    def take_over(self, load_id: int) -> bool:
        """Claim an in-flight file whose lease is ours or has expired; True if we won."""
        now = utcnow()
        with self.backend.transaction() as conn:
            result = conn.execute(
                update(files)
                .where(
                    files.c.load_id == load_id,
                    files.c.status.in_([s.value for s in IN_FLIGHT]),
                    or_(files.c.claimed_by == self.instance, files.c.lease_expires < now),
                )
                .values(claimed_by=self.instance, lease_expires=now + self.lease,
                        attempts=files.c.attempts + 1)
            )
            won = result.rowcount == 1
            if won:
                self._event(conn, load_id, Status.CLAIMED, f"taken over by {self.instance}")
        return won

    def unfinished(self) -> list[FileRecord]:
        """In-flight files that this instance may take over now."""
        query = select(files).where(
            files.c.status.in_([s.value for s in IN_FLIGHT]),
            or_(files.c.claimed_by == self.instance, files.c.lease_expires < utcnow()),
        ).order_by(files.c.load_id)
        with self.backend.reading() as conn:
            return FileRecord.all(conn.execute(query))

    def unfinished_moves(self) -> list[FileRecord]:
        """Files in a terminal state whose last move was interrupted."""
        query = select(files).where(
            files.c.pending_move_to.is_not(None),
            files.c.status.in_([s.value for s in TERMINAL]),
        )
        with self.backend.reading() as conn:
            return FileRecord.all(conn.execute(query))

    def get(self, load_id: int) -> FileRecord | None:
        """One file's audit record."""
        with self.backend.reading() as conn:
            row = conn.execute(select(files).where(files.c.load_id == load_id)).first()
        return FileRecord.of(row) if row is not None else None
