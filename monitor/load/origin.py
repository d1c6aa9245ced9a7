"""Where a load's records come from, and the audit row that follows it: a source of another kind
than a dropped file (a stream of events) goes through the same state and audit path.

A file's origin is its audit row as it is today. A stream's batch is a `RecordBatch`: its
records already in columns, claimed under a name (`stream:<name>` in the audit row's path,
so that the audit, the duplicate check on its SHA-256 and `StateStore.end` apply to it as
to a file), loaded by its rule's strategy (`monitor.load.write.batch`). What a batch never
has is a file to move: its audit row records no move, and a batch found in flight after a
crash ends `failed` (its stream reads it again from the position it last loaded).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.records import FileRecord

STREAM_MARK = "stream:"  # an audit row's path for a stream's batch: `stream:<name>`


class OriginKind(StrEnum):
    """The kinds of source a load may come from."""

    FILE = "file"
    STREAM = "stream"

    @classmethod
    def of(cls, record: FileRecord) -> OriginKind:
        """The kind of source an audit row was loaded from."""
        return cls.STREAM if record.source_path.startswith(STREAM_MARK) else cls.FILE


@dataclass(frozen=True)
class Origin:
    """A load's origin and audit identity: its kind, its name (the file's, or the stream's
    batch's) and its audit row (`ingest_files.load_id`)."""

    kind: OriginKind
    name: str
    load_id: int

    @classmethod
    def of(cls, record: FileRecord) -> Origin:
        """The origin an audit row records."""
        return cls(OriginKind.of(record), record.file_name, record.load_id)


@dataclass(frozen=True)
class RecordBatch:
    """Records of a stream, in columns, to load as one unit (one audit row, one transaction).
    `name` says which batch it is (a stream and its position, say); `columns` are the
    records' field names, each record a value (or None) per column."""

    name: str
    columns: list[str]
    records: list[list[str | None]] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The path its audit row records."""
        return f"{STREAM_MARK}{self.name}"

    def sha256(self) -> str:
        """The SHA-256 of its content (columns and records): the same batch is loaded once."""
        digest = hashlib.sha256()
        rows: list[list[str | None]] = [list(self.columns), *self.records]
        for values in rows:
            digest.update("\x1f".join("\x00" if value is None else value for value in values).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()

    def size(self) -> int:
        """Its size in bytes, as its audit row records it (the UTF-8 of its values)."""
        return sum(len(value.encode()) for values in self.records for value in values if value is not None)
