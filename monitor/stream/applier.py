"""Applying a batch of events to the target, exactly once.

One batch is one transaction: the target locked, the stored position read (events at or
before it are skipped: the service resends the event at the position it resumes from), the
events folded in order over the rows the table holds (a column the profile lacks keeps its
value; the last event of a company wins), the rows merged on the key by the load's merge
(`load.write.merge_steps.apply`: the replaced versions kept in history, `_load_id` the batch's audit
row), `deleted` companies removed (their last version kept in history too), the events kept
in `ingest_stream_events`, the batch's counts and the new position stored. Nothing of a batch
is seen unless all of it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, MetaData, Table, delete, insert, literal, select

from monitor.backends import Backend
from monitor.backends.merging import MergeCounts, Place
from monitor.backends.target import Target
from monitor.catalog import LOAD_ID_COLUMN, REPLACED_AT_COLUMN, REPLACED_BY_COLUMN
from monitor.config import StreamSource
from monitor.load.read.naming import NameRules, normalise_header
from monitor.load.write import merge_steps
from monitor.stream.audit import BatchAudit, BatchCounts
from monitor.stream.framing import Event
from monitor.stream.mapping import columns_of, mapper_of
from monitor.stream.store import Position, StreamTables, now, read_position, write_position

log = logging.getLogger("monitor.stream")
KEYS_PER_QUERY = 500  # keys in one IN list (SQL Server takes 2,100 parameters at most)
EVENT_TYPES = ("changed", "deleted")


@dataclass
class Folded:
    """A batch's events folded per company: the final row (None: deleted) and the rejects."""

    rows: dict[str, dict[str, str] | None]
    rejected: list[tuple[int, str, str]]


class Applier:
    """Applies one stream's events to its target table."""

    def __init__(self, backend: Backend, source: StreamSource, instance: str) -> None:
        self.backend, self.source = backend, source
        self.schema = backend.schema_for(source.reference)
        self.table = source.table
        self.tables = StreamTables(self.schema)
        headers = list(columns_of(source.mapping))
        if source.key_column not in headers:
            headers.append(source.key_column)
        self.names = dict(zip(headers, normalise_header(headers, NameRules.of(backend)), strict=True))
        self.headers = {name: header for header, name in self.names.items()}
        self.columns = list(self.names.values())
        self.key = self.names[source.key_column]
        self.mapper = mapper_of(source.mapping)
        self.audit = BatchAudit(backend, source.name, self.schema, self.table, source.url, instance)
        self.position = Position(None, None, None)
        self.prepared = False  # the target made ready in this process (again after a failure or a join)
        self._tables: dict[tuple[str | None, str, tuple[str, ...]], Table] = {}

    # -- start -------------------------------------------------------------------------
    def start(self) -> Position:
        """The stream's tables, batches a crash left open settled, the stored position read."""
        with self.backend.transaction() as conn:
            self.tables.create(conn)
        settled = self.audit.settle_interrupted(self.tables)
        if settled:
            log.info("stream %s: %d batch(es) interrupted by a stop settled", self.source.name, settled)
        with self.backend.reading() as conn:
            self.position = read_position(conn, self.tables, self.source.name)
        return self.position

    # -- one batch ---------------------------------------------------------------------
    def apply(self, batch: Sequence[Event]) -> BatchCounts | None:
        """Apply the events after the stored position (None: none was); the audit row says how."""
        stored = self.position.timepoint
        fresh = [event for event in batch if stored is None or event.timepoint > stored]
        if not fresh:
            return None
        name = f"{self.source.name}@{fresh[0].timepoint}-{fresh[-1].timepoint}"
        load_id = self.audit.open(name, fresh[0].timepoint, fresh[-1].timepoint, sum(len(e.raw) for e in fresh))
        try:
            with self.backend.transaction() as conn:
                counts = self._apply_new(conn, fresh, load_id)
        except BaseException as exc:
            self.prepared = False
            self._fail(load_id, exc)
            raise
        self.audit.loaded(load_id, counts)
        return counts

    def _fail(self, load_id: int, exc: BaseException) -> None:
        try:
            self.audit.failed(load_id, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        except Exception:  # the database is gone too: the row is settled at the next start
            log.debug("stream %s: could not mark batch %s failed", self.source.name, load_id)

    def _apply_new(self, conn: Connection, batch: list[Event], load_id: int) -> BatchCounts:
        self.backend.lock_target(conn, self.schema, self.table)
        stored = read_position(conn, self.tables, self.source.name)
        events = [e for e in batch if stored.timepoint is None or e.timepoint > stored.timepoint]
        counts = self.apply_events(conn, events, load_id) if events else BatchCounts()
        if events:
            conn.execute(insert(self.tables.events), [
                {"stream": self.source.name, "timepoint": e.timepoint, "resource_id": e.resource_id[:64],
                 "event_type": e.event_type[:16], "published_at": e.published_at[:40], "load_id": load_id,
                 "body": e.raw} for e in events])
            write_position(conn, self.tables, self.source.name, self.table, timepoint=events[-1].timepoint,
                           published_at=events[-1].published_at, load_id=load_id)
            self.position = Position(events[-1].timepoint, events[-1].published_at, stored.joined_load_id,
                                     stored.joining_load_id, stored.join_upto)
        self.record(conn, load_id, counts)
        return counts

    def record(self, conn: Connection, load_id: int, counts: BatchCounts) -> None:
        """The batch's counts beside the target: the proof, after a crash, that it committed."""
        conn.execute(insert(self.tables.batches).values(
            load_id=load_id, stream=self.source.name, first_timepoint=counts.first_timepoint,
            last_timepoint=counts.last_timepoint, events=counts.events, inserted=counts.inserted,
            updated=counts.updated, unchanged=counts.unchanged, deleted=counts.deleted,
            rejected=len(counts.rejected), applied_at=now()))

    # -- the events on the table ---------------------------------------------------------
    def apply_events(self, conn: Connection, events: Sequence[Event], load_id: int) -> BatchCounts:
        """Fold `events` over the table's rows and write the result (in `conn`'s transaction)."""
        self._ready(conn)
        keys = sorted({key for key in (self._key_of(e) for e in events) if key})
        current = self._current(conn, keys)
        folded = self.fold(events, current)
        counts = BatchCounts(events[0].timepoint, events[-1].timepoint, len(events), rejected=folded.rejected,
                             superseded=len(events) - len(folded.rejected) - len(folded.rows))
        changed = {key: row for key, row in folded.rows.items() if row is not None}
        gone = [key for key, row in folded.rows.items() if row is None and key in current]
        if changed:
            merged = self._merge(conn, changed, load_id)
            counts.inserted, counts.updated, counts.unchanged = merged.inserted, merged.updated, merged.unchanged
        if gone:
            counts.deleted = self._delete(conn, gone, load_id)
        return counts

    def _key_of(self, event: Event) -> str:
        mapped = self.mapper(event.data, {}).get(self.source.key_column)
        return str(mapped or event.resource_id or "").strip()

    def fold(self, events: Sequence[Event], current: dict[str, dict[str, str]]) -> Folded:
        """Each company's row after the events, in order: mapped values over the row held."""
        rows: dict[str, dict[str, str] | None] = {}
        rejected: list[tuple[int, str, str]] = []
        for event in events:
            key = self._key_of(event)
            if event.event_type not in EVENT_TYPES:
                rejected.append((event.timepoint, f"unknown event type {event.event_type!r}", event.raw))
                continue
            if not key:
                rejected.append((event.timepoint, f"no {self.source.key_column} in the event", event.raw))
                continue
            if event.event_type == "deleted":
                rows[key] = None
                continue
            base = rows[key] if key in rows else current.get(key)
            held = dict(base or {})
            mapped = self.mapper(event.data, {self.headers[c]: v for c, v in held.items() if c in self.headers})
            held.update({self.names[h]: v for h, v in mapped.items() if h in self.names})
            held[self.key] = key
            rows[key] = held
        return Folded(rows, rejected)

    def _table(self, columns: list[str], schema: str | None, table: str) -> Table:
        """A table of these columns, made once (statements on the same Table object compile once:
        a new object per batch would fill the engine's statement cache)."""
        key = (schema, table, tuple(columns))
        if key not in self._tables:
            self._tables[key] = Table(table, MetaData(), *(Column(name) for name in columns), schema=schema)
        return self._tables[key]

    def _ready(self, conn: Connection) -> None:
        """The target with every mapped column, its key index, history table and merge record
        (looked at once, and again after a failed batch or a snapshot swapped in)."""
        if self.prepared:
            return
        backend = self.backend
        if not backend.table_exists(conn, self.schema, self.table):
            backend.create_table(conn, self.schema, self.table, self.columns)
        else:
            present = set(backend.columns_of(conn, self.schema, self.table))
            missing = [name for name in self.columns if name not in present]
            if missing:
                backend.add_columns(conn, self.schema, self.table, missing)
        merge_steps.prepare(backend, conn, Place(self.schema, self.table), [self.key])
        self.prepared = True

    def _current(self, conn: Connection, keys: list[str]) -> dict[str, dict[str, str]]:
        target = self._table(self.columns, self.schema, self.table)
        found: dict[str, dict[str, str]] = {}
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start:start + KEYS_PER_QUERY]
            for row in conn.execute(select(target).where(target.c[self.key].in_(chunk))).mappings():
                found[str(row[self.key])] = {name: "" if value is None else str(value) for name, value in row.items()}
        return found

    def _merge(self, conn: Connection, rows: dict[str, dict[str, str]], load_id: int) -> MergeCounts:
        backend = self.backend
        plan = merge_steps.plan(backend, conn, Place(self.schema, self.table), [self.key], self.columns, load_id)
        backend.create_staging(conn, plan)
        staging = Target(plan.staging.schema, plan.staging.table, self.columns, load_id, [""], fresh=True,
                         destination=self.table, ordered=True)
        values = [[row.get(name, "") for name in self.columns] for row in rows.values()]
        staged = backend.bulk_insert(conn, staging, [values])
        return merge_steps.apply(backend, conn, plan, staged)

    def _delete(self, conn: Connection, keys: list[str], load_id: int) -> int:
        """Remove deleted companies, their last version kept in the history table."""
        kept = [name for name in self.backend.columns_of(conn, self.schema, self.table) if name != LOAD_ID_COLUMN]
        target = self._table([*kept, LOAD_ID_COLUMN], self.schema, self.table)
        place = self.backend.history_of(self.schema, self.table)
        history = self._table([*kept, LOAD_ID_COLUMN, REPLACED_BY_COLUMN, REPLACED_AT_COLUMN], place.schema,
                              place.table)
        deleted = 0
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start:start + KEYS_PER_QUERY]
            chosen = target.c[self.key].in_(chunk)
            source = select(*(target.c[n] for n in [*kept, LOAD_ID_COLUMN]), literal(load_id), literal(now()))
            conn.execute(insert(history).from_select([*kept, LOAD_ID_COLUMN, REPLACED_BY_COLUMN, REPLACED_AT_COLUMN],
                                                     source.where(chosen)))
            deleted += conn.execute(delete(target).where(chosen)).rowcount
        return deleted
