"""What the running daemon says about itself: the service manager's one-line `STATUS=`
(`systemctl status` shows it) and, for loads that run long, a `progress` log line now and then.

    watching 2 folder(s); loading big.csv (1,200,000 rows, 40%); 3 queued; 1 settling
    database unavailable since 12:00:03 UTC; watching 2 folder(s); 4 file(s) waiting for it
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from monitor.load.state import journal
from monitor.operate.metrics import Live, RunningDaemon

STATUS_EVERY = 1.0  # seconds between two STATUS= updates at most (sent only when it changed)
NAMES_SHOWN = 2  # loads named in the status line; the rest are counted


class Narrator:
    """Keeps the service manager's status line current and logs the progress of long loads."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.daemon = daemon
        self.live = Live(daemon)
        self.progress_seconds = daemon.settings.progress_seconds
        self._said = ""
        self._next_status = 0.0
        self._next_progress = time.monotonic() + self.progress_seconds
        self._down_since: datetime | None = None

    def status_line(self) -> str:
        """What the daemon is doing, in one line."""
        daemon, live = self.daemon, self.live
        folders = len({rule.path.resolve() for rule in daemon.settings.folders})
        watching = f"watching {folders} folder(s)" if live.watching() else "not watching (observers stopped)"
        if not daemon.gate.up:
            self._down_since = self._down_since or datetime.now(UTC)
            waiting = daemon.waiting_for_database
            return (f"database unavailable since {self._down_since:%H:%M:%S} UTC; {watching}"
                    + (f"; {waiting} file(s) waiting for it" if waiting else ""))
        self._down_since = None
        parts = [watching]
        loads = live.in_flight()
        if loads:
            named = ", ".join(f"{load['file']} ({self._how_far(load)})" for load in loads[:NAMES_SHOWN])
            more = f" and {len(loads) - NAMES_SHOWN} more" if len(loads) > NAMES_SHOWN else ""
            parts.append(f"loading {named}{more}")
        for count, what in ((live.queue_depth(), "queued"), (live.settling(), "settling")):
            if count:
                parts.append(f"{count} {what}")
        if len(parts) == 1:
            parts.append("idle")
        return "; ".join(parts)

    @staticmethod
    def _how_far(load: dict) -> str:
        rows = f"{load['rows']:,} rows"
        if load.get("blocked"):
            return f"{rows}, blocked: {load['blocked']}"
        if load["phase"] != "loading":
            return f"{rows}, {load['phase']}"
        return rows if load["fraction"] is None else f"{rows}, {load['fraction'] * 100:.0f}%"

    def tick(self, now: float) -> None:
        """From the main loop: send a changed status line, log the progress of long loads."""
        if now >= self._next_status and self.daemon.notifier.enabled:
            self._next_status = now + STATUS_EVERY
            line = self.status_line()
            if line != self._said:
                self._said = line
                self.daemon.notifier.status(line)
        if now >= self._next_progress:
            self._next_progress = now + self.progress_seconds
            for load in self.live.in_flight():
                if load["elapsed_seconds"] >= self.progress_seconds:
                    journal.progress(load["load_id"], load["file"], load["target"], load["rows"],
                                     load["elapsed_seconds"], f"blocked: {load['blocked']}" if load.get("blocked")
                                     else load["phase"], load["fraction"], load["mb_per_s"])


def where(thread: threading.Thread) -> str:
    """`name at file:line in function`, the innermost frame of a running thread."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return thread.name
    stack = traceback.extract_stack(frame)
    inner = next((f for f in reversed(stack) if "/monitor/" in f.filename.replace("\\", "/")), stack[-1])
    return f"{thread.name} at {Path(inner.filename).name}:{inner.lineno} in {inner.name}"
