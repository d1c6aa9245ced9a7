"""What the running daemon is doing, sampled live: `Live` reads the daemon's in-memory state
(queue, files settling or waiting for the database, loads in flight with their progress) and
probes the database (it answers; it holds the daemon's tables). The status page, `/health`,
`/metrics` (`monitor.operate.exposition`) and the service status line all read it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from queue import Queue
from typing import Any, Protocol

from monitor.config import Settings
from monitor.intake.watcher import FolderWatcher, StabilityTracker
from monitor.load import setup
from monitor.load.jobs import Job, ResumeJob
from monitor.load.state.machine import utcnow
from monitor.operate.app import App
from monitor.operate.gate import DatabaseGate
from monitor.operate.notify import Notifier
from monitor.operate.progress import Estimate, estimate, measure
from monitor.operate.readiness import folder_causes, folder_problems
from monitor.stream.runner import Streams
from monitor.stream.status import StreamStatus

log = logging.getLogger("monitor.metrics")
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class DatabaseState:
    """What a probe found: the database answered, and holds the daemon's tables."""

    answers: bool
    schema: bool


class DatabaseProbe:
    """Is the database there, with the daemon's tables? Asked with a time limit; at most one
    probe in flight at a time."""

    def __init__(self, check: Callable[[], bool], timeout: float = PROBE_TIMEOUT) -> None:
        self._check = check
        self.timeout = timeout
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = DatabaseState(False, False)

    def _run(self) -> None:
        try:
            schema = self._check()
        except Exception as exc:  # the answer is "down"; say why at debug level
            log.debug("database probe failed: %s", exc)
            self._state = DatabaseState(False, False)
        else:
            self._state = DatabaseState(True, schema)

    def state(self) -> DatabaseState:
        """The database's state now (down when it did not answer within the time limit)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._state = DatabaseState(False, False)
                self._thread = threading.Thread(target=self._run, name="db-probe", daemon=True)
                self._thread.start()
            thread = self._thread
        thread.join(self.timeout)
        return DatabaseState(False, False) if thread.is_alive() else self._state

    def up(self) -> bool:
        """True when the database answered within the time limit."""
        return self.state().answers


class RunningDaemon(Protocol):
    """What the views of a running daemon read of it (`monitor.operate.daemon.Daemon` is one):
    named here so that the daemon imports its views, and they never import it back."""

    app: App
    settings: Settings
    stop_event: threading.Event
    watcher: FolderWatcher
    tracker: StabilityTracker
    queue: Queue[Job]
    gate: DatabaseGate
    notifier: Notifier
    waiting_for_database: int
    streams: Streams


class Live:
    """A read-only view of a running daemon."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.daemon = daemon
        self.probe = DatabaseProbe(partial(setup.is_initialised, daemon.app.backend))
        self._estimates: dict[int, Estimate | None] = {}

    @property
    def backend(self) -> Any:
        """The daemon's database backend."""
        return self.daemon.app.backend

    def watching(self) -> bool:
        """The daemon runs, its folder observers are alive and every watched folder is there."""
        return (not self.daemon.stop_event.is_set() and self.daemon.watcher.alive()
                and not any(self.folders().values()))

    def folders(self) -> dict[str, str | None]:
        """Each watched folder and why files there cannot be read (None when they can)."""
        return folder_problems(self.daemon.settings)

    def database_writable(self) -> bool:
        """False while loads wait because the database refuses the loader's writes."""
        return not (self.loads_paused() and self.daemon.gate.refused)

    def database_up(self) -> bool:
        """The database answers now."""
        return self.probe.up()

    def database(self) -> DatabaseState:
        """The database answers now, and holds the daemon's tables."""
        return self.probe.state()

    def loads_paused(self) -> bool:
        """The daemon's circuit breaker is open: loads wait for the database."""
        return not self.daemon.gate.up

    def queue_depth(self) -> int:
        """Files waiting for a worker."""
        return self.daemon.queue.qsize()

    def waiting(self) -> int:
        """Files ready to load that wait for the database (0 while it is up)."""
        return self.daemon.waiting_for_database if self.loads_paused() else 0

    def settling(self) -> int:
        """Files seen in watched folders, waiting to stop changing (not those that are ready
        and wait for the database)."""
        ready = max(self.waiting() - self.queue_depth(), 0)
        return max(len(self.daemon.tracker) - ready, 0)

    def health(self) -> dict[str, Any]:
        """Whether files can load now: the daemon watches its folders, the database answers
        and holds the daemon's tables, and loads are not paused."""
        watching, database, folders, paused = self.watching(), self.database(), self.folders(), self.loads_paused()
        ok = watching and database.answers and database.schema and not paused
        causes = folder_causes(folders)
        streams = [status.as_dict() for status in self.streams()]
        if self.daemon.stop_event.is_set():
            causes.append("the daemon is stopping")
        elif not self.daemon.watcher.alive():
            causes.append("the folder observers are not running")
        gate = self.daemon.gate.cause
        if not database.answers:
            causes.append("the database does not answer" + (f" ({gate})" if gate and not self.daemon.gate.refused
                                                            else ""))
        elif not database.schema:
            causes.append("the daemon's tables are missing in the database")
        if paused and (database.answers or self.daemon.gate.refused):
            causes.append(f"loads are paused: {gate or 'after a connection error; retrying'}")
        return {"status": "ok" if ok else "unavailable", "watching": watching, "database": database.answers,
                "schema": database.schema, "loads_paused": paused, "writable": self.database_writable(),
                "causes": causes, "folders": {folder: why is None for folder, why in folders.items()},
                **({"streams": streams} if streams else {})}

    def streams(self) -> list[StreamStatus]:
        """Each configured stream's live state (README "Streams")."""
        return self.daemon.streams.statuses()

    def queued_files(self) -> list[str]:
        """Names of the files waiting for a worker, in queue order."""
        work_queue = self.daemon.queue
        with work_queue.mutex:
            waiting = list(work_queue.queue)
        return [f"{job.name} (resuming)" if isinstance(job, ResumeJob) else job.name for job in waiting]

    def in_flight(self) -> list[dict[str, Any]]:
        """Loads in flight with rows read, rate, fraction done and ETA (estimated)."""
        snapshot = self.daemon.app.pipeline.snapshot()
        for gone in set(self._estimates) - set(snapshot):
            self._estimates.pop(gone, None)
        now = utcnow()
        blocked = self._lock_waits([p["session"] for p in snapshot.values() if p.get("session")])
        loads = []
        for load_id, progress in sorted(snapshot.items()):
            if load_id not in self._estimates:
                self._estimates[load_id] = self._estimate(load_id)
            elapsed = max((now - progress["started"]).total_seconds(), 0.0)
            reading = measure(progress["rows"] + progress["rejected"], elapsed, self._estimates[load_id])
            loads.append({
                "load_id": load_id, "file": progress["file"], "target": progress["target"],
                "rows": progress["rows"], "rejected": progress["rejected"],
                "started_at": progress["started"].isoformat(sep=" ", timespec="seconds"),
                "elapsed_seconds": round(elapsed, 1), "fraction": reading.fraction, "phase": progress["phase"],
                "mb_per_s": reading.mb_per_s, "eta_seconds": reading.eta_seconds,
                "swap_waiting_seconds": round((now - progress["waiting_since"]).total_seconds(), 1)
                if progress.get("waiting_since") else 0.0,
                "blocked": blocked.get(progress.get("session") or ""),
            })
        return loads

    def _lock_waits(self, sessions: list[str]) -> dict[str, str]:
        """Which of these sessions wait for a lock, and on whom (best effort: {} when unknown)."""
        if not sessions or not self.daemon.gate.up:
            return {}
        try:
            return self.daemon.app.backend.lock_waits(sessions)
        except Exception:  # the page says what it can; the load reports its own errors
            return {}

    def _estimate(self, load_id: int) -> Estimate | None:
        try:
            row = self.daemon.app.state.get(load_id)
            return estimate(Path(row.current_path)) if row is not None and row.current_path else None
        except Exception:  # progress is best effort; the load reports its own errors
            return None
