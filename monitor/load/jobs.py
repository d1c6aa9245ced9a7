"""The work a worker takes from the daemon's queue, one type per kind of job.

- `FileJob`: a stable file found in a watched folder, to go through every stage;
- `ResumeJob`: a load found in flight (after a crash, or another instance's expired lease),
  to re-enter the machine from its recorded state (`monitor.load.recovery`);
- `SetJob`: a complete snapshot set found waiting, to load as one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.config import FolderRule
from monitor.records import FileRecord


@dataclass(frozen=True)
class FileJob:
    """A stable file to load."""

    rule: FolderRule
    path: Path
    discovered_at: datetime | None = None

    @property
    def name(self) -> str:
        """What the log calls it."""
        return self.path.name


@dataclass(frozen=True)
class ResumeJob:
    """A load found in flight, to resume."""

    rule: FolderRule
    record: FileRecord

    @property
    def name(self) -> str:
        """What the log calls it."""
        return self.record.file_name


@dataclass(frozen=True)
class SetJob:
    """A complete snapshot set, to load."""

    rule: FolderRule
    set_id: int

    @property
    def name(self) -> str:
        """What the log calls it."""
        return f"set {self.set_id}"


Job = FileJob | ResumeJob | SetJob
