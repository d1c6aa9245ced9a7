"""A running stream's state as the status page, `/health` and `/metrics` show it."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RATE_WINDOW = 60.0  # events per second over this many seconds
STATES = ("starting", "connecting", "streaming", "backoff", "circuit_open", "unauthorized", "timepoint_too_old",
          "stopped")


def _epoch(published_at: str | None) -> float | None:
    if not published_at:
        return None
    try:
        moment = datetime.fromisoformat(published_at)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass
class StreamStatus:
    """What one stream is doing now (written by its task, read by the HTTP threads)."""

    name: str
    target: str
    state: str = "starting"
    last_timepoint: int | None = None
    last_published_at: str | None = None
    last_error: str | None = None
    reconnects: int = 0
    events_applied: int = 0
    events_rejected: int = 0
    batches: int = 0
    malformed: int = 0
    heartbeats: int = 0
    connected: bool = False
    last_byte_at: float | None = None  # time.time() of the last byte received
    _rate: deque[tuple[float, int]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, state: str, error: str | None = None) -> None:
        """Enter a state (one of STATES), with the error that led there."""
        self.state = state
        self.connected = state == "streaming"
        if error is not None:
            self.last_error = error

    def applied(self, events: int, rejected: int, timepoint: int | None, published_at: str | None) -> None:
        """A batch committed."""
        now = time.time()
        with self._lock:
            self.events_applied += events
            self.events_rejected += rejected
            self.batches += 1
            if timepoint is not None:
                self.last_timepoint, self.last_published_at = timepoint, published_at
            self._rate.append((now, events))
            while self._rate and self._rate[0][0] < now - RATE_WINDOW:
                self._rate.popleft()

    def events_per_second(self) -> float:
        """Events applied per second over the last minute."""
        now = time.time()
        with self._lock:
            total = sum(count for at, count in self._rate if at >= now - RATE_WINDOW)
        return total / RATE_WINDOW

    def lag_seconds(self) -> float | None:
        """Now minus the `published_at` of the last applied event (None: none yet)."""
        published = _epoch(self.last_published_at)
        return None if published is None else max(time.time() - published, 0.0)

    def as_dict(self) -> dict[str, Any]:
        """The state as JSON-ready values."""
        lag = self.lag_seconds()
        return {"name": self.name, "target": self.target, "state": self.state, "connected": self.connected,
                "last_timepoint": self.last_timepoint, "last_published_at": self.last_published_at,
                "lag_seconds": None if lag is None else round(lag, 1),
                "events_per_second": round(self.events_per_second(), 2), "events_applied": self.events_applied,
                "events_rejected": self.events_rejected, "batches": self.batches, "malformed_lines": self.malformed,
                "heartbeats": self.heartbeats, "reconnects": self.reconnects, "last_error": self.last_error,
                "last_byte_at": self.last_byte_at}
