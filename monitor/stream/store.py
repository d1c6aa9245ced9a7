"""The stream's own tables, kept beside its target (in the target's schema, so that on SQLite
they commit in the same file as the rows): the position (last applied timepoint and the
snapshot it was joined to), every applied event (for re-applying on top of a newer snapshot),
and each batch's counts (the proof after a crash that a batch committed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Connection, Index, MetaData, PrimaryKeyConstraint, Table, select, update

from monitor.catalog import String, Text, Timestamp

POSITIONS = "ingest_stream_positions"
EVENTS = "ingest_stream_events"
BATCHES = "ingest_stream_batches"


def now() -> datetime:
    """UTC now, without a time zone (as the daemon's tables keep times)."""
    return datetime.now(UTC).replace(tzinfo=None)


class StreamTables:
    """The three tables in one schema (None: the database's default)."""

    def __init__(self, schema: str | None) -> None:
        meta = MetaData()
        self.positions = Table(
            POSITIONS, meta,
            Column("stream", String(64), primary_key=True),
            Column("target_table", String(128), nullable=False),
            Column("timepoint", BigInteger),
            Column("published_at", String(40)),
            Column("load_id", BigInteger),
            Column("joined_load_id", BigInteger),  # the newest snapshot the applied events were put on
            Column("joining_load_id", BigInteger),  # a snapshot being joined now ...
            Column("join_upto", BigInteger),  # ... its events re-applied up to this timepoint
            Column("updated_at", Timestamp, nullable=False),
            schema=schema)
        self.events = Table(
            EVENTS, meta,
            Column("stream", String(64), nullable=False),
            Column("timepoint", BigInteger, nullable=False),
            Column("resource_id", String(64), nullable=False),
            Column("event_type", String(16), nullable=False),
            Column("published_at", String(40), nullable=False),
            Column("load_id", BigInteger, nullable=False),
            Column("body", Text, nullable=False),
            PrimaryKeyConstraint("stream", "timepoint"),
            schema=schema)
        Index(f"ix_{EVENTS}_published", self.events.c.stream, self.events.c.published_at)
        self.batches = Table(
            BATCHES, meta,
            Column("load_id", BigInteger, primary_key=True, autoincrement=False),
            Column("stream", String(64), nullable=False),
            Column("first_timepoint", BigInteger),
            Column("last_timepoint", BigInteger),
            Column("events", BigInteger, nullable=False),
            Column("inserted", BigInteger, nullable=False),
            Column("updated", BigInteger, nullable=False),
            Column("unchanged", BigInteger, nullable=False),
            Column("deleted", BigInteger, nullable=False),
            Column("rejected", BigInteger, nullable=False),
            Column("applied_at", Timestamp, nullable=False),
            schema=schema)
        self.metadata = meta

    def create(self, conn: Connection) -> None:
        """Create the tables that are missing."""
        self.metadata.create_all(conn, checkfirst=True)


@dataclass(frozen=True)
class Position:
    """Where a stream stands: its last applied timepoint (None: nothing yet) and the newest
    snapshot load its events were joined to."""

    timepoint: int | None
    published_at: str | None
    joined_load_id: int | None
    joining_load_id: int | None = None
    join_upto: int | None = None


def read_position(conn: Connection, tables: StreamTables, stream: str) -> Position:
    """The stored position of a stream."""
    row = conn.execute(select(tables.positions).where(tables.positions.c.stream == stream)).first()
    if row is None:
        return Position(None, None, None)
    return Position(row.timepoint, row.published_at, row.joined_load_id, row.joining_load_id, row.join_upto)


def write_position(conn: Connection, tables: StreamTables, stream: str, table: str, **values: object) -> None:
    """Store a stream's position (in the caller's transaction, with the batch)."""
    positions = tables.positions
    changed = conn.execute(update(positions).where(positions.c.stream == stream)
                           .values(updated_at=now(), **values)).rowcount
    if not changed:
        conn.execute(positions.insert().values(stream=stream, target_table=table, updated_at=now(), **values))
