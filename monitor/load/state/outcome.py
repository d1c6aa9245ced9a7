"""How one file's run ended, as the CLI's summary and the daemon's log say it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from monitor.intake.folders import rejects_path
from monitor.load.state.status import Status
from monitor.records import FileRecord


class OutcomeKind(StrEnum):
    """Every persisted state a run can leave a file in, and two that write nothing: `busy`
    (the same content is being loaded right now: look again later) and `vanished` (the
    file left its folder, taken by another instance)."""

    CLAIMED = "claimed"
    LOADING = "loading"
    LOADED = "loaded"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    WAITING = "waiting"
    SUPERSEDED = "superseded"
    BUSY = "busy"
    VANISHED = "vanished"

    @classmethod
    def of(cls, status: str) -> OutcomeKind:
        """The kind of a persisted `Status` value."""
        return cls(Status(status).value)


# Nothing for an operator to do: loaded, a duplicate, a part waiting for the rest of its set,
# or a snapshot older than the one loaded now (kept in the archive; `replay` loads it).
OK_KINDS = (OutcomeKind.LOADED, OutcomeKind.DUPLICATE, OutcomeKind.WAITING, OutcomeKind.SUPERSEDED)


@dataclass
class Outcome:
    """How one file ended, for the CLI summary and the daemon's log."""

    file: str
    status: OutcomeKind
    load_id: int | None = None
    target: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    error: str | None = None
    path: str | None = None  # where the file is now (its archive or failed/ copy)

    @classmethod
    def from_row(cls, row: FileRecord) -> Outcome:
        """The outcome recorded in an audit row."""
        return cls(
            file=row.file_name, status=OutcomeKind.of(row.status), load_id=row.load_id,
            target=f"{row.target_schema}.{row.target_table}", rows_read=row.rows_read or 0,
            rows_loaded=row.rows_loaded or 0, rows_rejected=row.rows_rejected or 0,
            seconds=(row.duration_ms or 0) / 1000, error=row.error, path=row.current_path,
        )

    @property
    def rejects_file(self) -> str | None:
        """The file of this load's rejected records, beside its file, when there are any."""
        if not self.rows_rejected or not self.path:
            return None
        side = rejects_path(Path(self.path))
        return str(side) if side.exists() else None

    @property
    def ok(self) -> bool:
        """Loaded, duplicate, waiting or superseded: nothing for an operator to do."""
        return self.status in OK_KINDS
