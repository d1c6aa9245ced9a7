"""The snapshot join: when a fullload snapshot of the stream's target dated D is swapped in,
the events already applied that were published on or after D are applied again on top of it,
in timepoint order, so the table is never older than the stream. A snapshot whose name has no
date counts from the moment its load started.

The join runs in chunks, each a transaction of its own with its audit row; the position
records how far it got (`joining_load_id`, `join_upto`), so a stop in the middle resumes
there; the last step records the snapshot as joined (`joined_load_id`) and forgets the events
published before D (a newer snapshot never needs them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Row, delete, select

from monitor.catalog import files
from monitor.stream.framing import Event
from monitor.stream.store import read_position, write_position

if TYPE_CHECKING:
    from monitor.stream.applier import Applier

log = logging.getLogger("monitor.stream")
CHUNK_EVENTS = 2_000


def newest_snapshot(conn: Connection, schema: str, table: str) -> Row | None:
    """The newest fullload loaded into the target (its load id, snapshot date, start)."""
    return conn.execute(select(files.c.load_id, files.c.snapshot_date, files.c.started_at).where(
        files.c.target_schema == schema, files.c.target_table == table, files.c.mode == "fullload",
        files.c.status == "loaded").order_by(files.c.load_id.desc()).limit(1)).first()


def since_of(snapshot: Row) -> str:
    """The first `published_at` (ISO text) the snapshot does not hold."""
    if snapshot.snapshot_date is not None:
        return snapshot.snapshot_date.isoformat()
    return snapshot.started_at.isoformat(timespec="seconds")


def join_snapshot(applier: Applier) -> int:
    """Join the newest snapshot if it has not been; the events applied again."""
    backend, tables, stream = applier.backend, applier.tables, applier.source.name
    with backend.reading() as conn:
        snapshot = newest_snapshot(conn, applier.schema, applier.table)
        position = read_position(conn, tables, stream)
    if snapshot is None or snapshot.load_id == position.joined_load_id:
        return 0
    since = since_of(snapshot)
    applier.prepared = False  # a new table: its key index and history looked at again
    upto = position.join_upto if position.joining_load_id == snapshot.load_id else None
    events = tables.events
    applied = 0
    log.info("stream %s: snapshot load %s (from %s) swapped in: applying the events since again",
             stream, snapshot.load_id, since)
    while True:
        query = select(events).where(events.c.stream == stream, events.c.published_at >= since)
        if upto is not None:
            query = query.where(events.c.timepoint > upto)
        with backend.reading() as conn:
            chunk = [Event.parse(row.body) for row in
                     conn.execute(query.order_by(events.c.timepoint).limit(CHUNK_EVENTS))]
        if not chunk:
            break
        name = f"{stream}@{chunk[0].timepoint}-{chunk[-1].timepoint} again on snapshot load {snapshot.load_id}"
        load_id = applier.audit.open(name, chunk[0].timepoint, chunk[-1].timepoint, sum(len(e.raw) for e in chunk))
        try:
            with backend.transaction() as conn:
                backend.lock_target(conn, applier.schema, applier.table)
                counts = applier.apply_events(conn, chunk, load_id)
                applier.record(conn, load_id, counts)
                write_position(conn, tables, stream, applier.table, joining_load_id=snapshot.load_id,
                               join_upto=chunk[-1].timepoint)
        except BaseException as exc:
            applier.prepared = False
            applier._fail(load_id, exc)
            raise
        applier.audit.loaded(load_id, counts)
        applied += len(chunk)
        upto = chunk[-1].timepoint
    with backend.transaction() as conn:
        write_position(conn, tables, stream, applier.table, joined_load_id=snapshot.load_id, joining_load_id=None,
                       join_upto=None)
        conn.execute(delete(events).where(events.c.stream == stream, events.c.published_at < since))
    log.info("stream %s: %d event(s) applied again on snapshot load %s", stream, applied, snapshot.load_id)
    return applied
