"""The loads this process is working on now, shared by its threads under one lock.

A load is held from its claim until its run ends (holds nest: the pipeline holds a file
while it claims and takes it in, the run while it loads); while held, its lease is renewed
and no other thread of this process picks it up. A load that is loading also has live
progress counters, read by the status page, the metrics and the progress bar.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.load.state.machine import utcnow


@dataclass
class Progress:
    """Live counters of one load in flight."""

    file: str
    target: str
    rows: int = 0
    rejected: int = 0
    phase: str = "loading"
    started: datetime = field(default_factory=utcnow)
    waiting_since: datetime | None = None  # the swap waits for readers of the target (`phase` says so)
    session: str | None = None  # the database session loading it (`Backend.session_of`), when known

    def swap_waits(self, message: str | None, since: datetime | None) -> None:
        """The swap waits for readers since `since` (`message` the phase), or no longer (None)."""
        self.phase, self.waiting_since = message or "committing", since


class InFlight:
    """Load ids held by this process (counted, so holds nest) and their progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: Counter[int] = Counter()
        self._progress: dict[int, Progress] = {}

    @contextmanager
    def holding(self, load_id: int) -> Iterator[None]:
        """Hold `load_id` for the block."""
        with self._lock:
            self._holds[load_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds[load_id] -= 1
                if self._holds[load_id] <= 0:
                    del self._holds[load_id]

    @contextmanager
    def loading(self, load_id: int, file: str, target: str) -> Iterator[Progress]:
        """Hold `load_id` with live progress counters for the block."""
        progress = Progress(file, target)
        with self.holding(load_id):
            with self._lock:
                self._progress[load_id] = progress
            try:
                yield progress
            finally:
                with self._lock:
                    self._progress.pop(load_id, None)

    def __contains__(self, load_id: object) -> bool:
        with self._lock:
            return load_id in self._holds

    def __len__(self) -> int:
        with self._lock:
            return len(self._holds)

    def ids(self) -> list[int]:
        """The held load ids, in order."""
        with self._lock:
            return sorted(self._holds)

    def loads(self) -> int:
        """How many loads are loading now."""
        with self._lock:
            return len(self._progress)

    def rows(self) -> int:
        """Records read so far by every load loading now (rows plus rejects)."""
        with self._lock:
            return sum(p.rows + p.rejected for p in self._progress.values())

    def snapshot(self) -> dict[int, dict[str, Any]]:
        """A copy of every load's progress, by load id."""
        with self._lock:
            return {load_id: vars(progress).copy() for load_id, progress in self._progress.items()}
