"""The daemon's own rows read back as typed records: a file's audit row (`FileRecord`, one per
load in `ingest_files`) and a snapshot set's (`SetRecord`, `ingest_sets`).

Every stage that reads a load's state gets one of these, never a database row: a misspelt
field fails the type check, and a record read once does not change under its reader.
`tests/test_records.py` keeps their fields the tables' columns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Self

from sqlalchemy import Row


class _FromRow:
    """Built from a row of the table of the same columns (extra columns are left out)."""

    @classmethod
    def of(cls, row: Row[Any]) -> Self:
        """The record of one row read from its table."""
        mapping = row._mapping
        return cls(**{field.name: mapping[field.name] for field in fields(cls)})  # type: ignore[arg-type]

    @classmethod
    def all(cls, rows: Any) -> list[Self]:
        """The records of every row of a result."""
        return [cls.of(row) for row in rows]


@dataclass(frozen=True)
class FileRecord(_FromRow):
    """One load's audit row (`ingest_files`): the file, its target, its state, its counts."""

    load_id: int
    file_name: str
    source_path: str
    current_path: str  # where the file is now (written with the claim, never emptied)
    pending_move_to: str | None
    sha256: str
    size_bytes: int
    target_schema: str
    target_table: str
    mode: str
    status: str
    rows_read: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    rows_inserted: int | None
    rows_updated: int | None
    rows_unchanged: int | None
    rows_superseded: int | None
    column_map: str | None
    error: str | None
    discovered_at: datetime | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    host: str | None
    os_user: str | None
    claimed_by: str | None
    lease_expires: datetime | None
    attempts: int
    duplicate_of: int | None
    replay_of: int | None
    snapshot_date: date | None
    set_id: int | None
    set_part: int | None

    @property
    def target(self) -> str:
        """`schema.table` it loads into."""
        return f"{self.target_schema}.{self.target_table}"


@dataclass(frozen=True)
class SetRecord(_FromRow):
    """One snapshot set's row (`ingest_sets`): its name, target, parts and state."""

    set_id: int
    set_name: str
    target_schema: str
    target_table: str
    part_count: int
    status: str
    snapshot_date: date | None
    first_seen_at: datetime
    complete_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    rows_loaded: int | None
    rows_rejected: int | None
    overdue_at: datetime | None
    claimed_by: str | None
    replay_of: int | None
    error: str | None
