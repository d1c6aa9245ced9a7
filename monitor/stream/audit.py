"""Each applied batch of events is audited like a file: a row in `ingest_files` (mode
`stream`, its name the stream and its first and last timepoint), its events in
`ingest_events`, its rejected events in `ingest_rejects`. The row is `applying` while the batch
runs (a status the file recovery never takes over), then `loaded` or `failed`; a row found
`applying` after a crash is settled from what the target's side recorded
(`ingest_stream_batches`): committed, or not (its events are read again from the stream)."""

from __future__ import annotations

import getpass
import hashlib
import socket
from dataclasses import dataclass, field

from sqlalchemy import Connection, insert, select, update

from monitor.backends import Backend
from monitor.catalog import events, files, rejects
from monitor.stream.store import StreamTables, now

MODE = "stream"
APPLYING = "applying"


@dataclass
class BatchCounts:
    """What one batch did: events taken, companies inserted, updated, unchanged, deleted,
    events rejected (with the reasons, per timepoint)."""

    first_timepoint: int | None = None
    last_timepoint: int | None = None
    events: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (timepoint, reason, raw)
    superseded: int = 0  # events a later event of the same company in the batch gave way to

    def summary(self) -> str:
        """One line for the audit event and the log."""
        return (f"{self.events} event(s), timepoints {self.first_timepoint}..{self.last_timepoint}: "
                f"{self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged, "
                f"{self.deleted} deleted, {len(self.rejected)} rejected")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return ""


class BatchAudit:
    """Writes the audit rows of one stream's batches."""

    def __init__(self, backend: Backend, stream: str, schema: str, table: str, source: str, instance: str) -> None:
        self.backend, self.stream, self.schema, self.table = backend, stream, schema, table
        self.source, self.instance = source, instance

    def open(self, name: str, first: int, last: int, size: int) -> int:
        """A new `applying` row for a batch; its load id."""
        digest = hashlib.sha256(f"{self.stream}\0{name}\0{now().isoformat()}".encode()).hexdigest()
        with self.backend.transaction() as conn:
            key = conn.execute(insert(files).values(
                file_name=name, source_path=self.source, sha256=digest, size_bytes=size,
                target_schema=self.schema, target_table=self.table, mode=MODE, status=APPLYING,
                started_at=now(), host=socket.gethostname(), os_user=_user(), claimed_by=self.instance,
                attempts=1)).inserted_primary_key
            assert key is not None
            load_id = int(key[0])
            self._event(conn, load_id, APPLYING, f"applying timepoints {first}..{last} of stream {self.stream}")
        return load_id

    def _event(self, conn: Connection, load_id: int, status: str, detail: str) -> None:
        conn.execute(insert(events).values(load_id=load_id, at=now(), status=status, detail=detail,
                                           instance=self.instance))

    def loaded(self, load_id: int, counts: BatchCounts) -> None:
        """The batch committed: its counts, rejects and end."""
        with self.backend.transaction() as conn:
            self._finish(conn, load_id, "loaded", counts.summary(), rows_read=counts.events,
                         rows_loaded=counts.events - len(counts.rejected), rows_rejected=len(counts.rejected),
                         rows_inserted=counts.inserted, rows_updated=counts.updated, rows_unchanged=counts.unchanged,
                         rows_superseded=counts.superseded)
            for timepoint, reason, raw in counts.rejected:
                conn.execute(insert(rejects).values(load_id=load_id, line_number=timepoint, reason=reason,
                                                    raw=raw[:4000]))

    def failed(self, load_id: int, error: str) -> None:
        """The batch did not commit; its events are read again from the stored position."""
        with self.backend.transaction() as conn:
            self._finish(conn, load_id, "failed", error, error=error)

    def _finish(self, conn: Connection, load_id: int, status: str, detail: str, **values: object) -> None:
        row = conn.execute(select(files.c.started_at).where(files.c.load_id == load_id)).first()
        ended = now()
        duration = int((ended - row.started_at).total_seconds() * 1000) if row is not None else None
        conn.execute(update(files).where(files.c.load_id == load_id, files.c.status == APPLYING).values(
            status=status, finished_at=ended, duration_ms=duration, **values))
        self._event(conn, load_id, status, detail)

    def settle_interrupted(self, tables: StreamTables) -> int:
        """Rows left `applying` by a crash: `loaded` when the target's side recorded the batch,
        else `failed`. How many were settled."""
        with self.backend.reading() as conn:
            left = [row.load_id for row in conn.execute(select(files.c.load_id).where(
                files.c.status == APPLYING, files.c.mode == MODE, files.c.target_schema == self.schema,
                files.c.target_table == self.table, files.c.source_path == self.source))]
        for load_id in left:
            with self.backend.reading() as conn:
                batch = conn.execute(select(tables.batches).where(tables.batches.c.load_id == load_id)).first()
            if batch is None:
                self.failed(load_id, "interrupted before its transaction committed; its events are read again "
                                     "from the stored position")
                continue
            counts = BatchCounts(batch.first_timepoint, batch.last_timepoint, batch.events, batch.inserted,
                                 batch.updated, batch.unchanged, batch.deleted)
            with self.backend.transaction() as conn:
                self._finish(conn, load_id, "loaded", counts.summary() + " (settled after a restart)",
                             rows_read=batch.events, rows_loaded=batch.events - batch.rejected,
                             rows_rejected=batch.rejected, rows_inserted=batch.inserted, rows_updated=batch.updated,
                             rows_unchanged=batch.unchanged, rows_superseded=0)
        return len(left)
