"""The long-running daemon: watch, hand ready files to a bounded worker pool, recover.

Threads: observers (watchdog) -> tracker; one scheduler thread turns stable
candidates into queued work and sweeps for recovery; N workers run the pipeline.
The queue is bounded, so a burst of files waits in the folder, not in memory.
"""

from __future__ import annotations

import logging
import queue
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Row

from monitor.app import App
from monitor.config import FolderRule
from monitor.pipeline import is_transient
from monitor.state import utcnow
from monitor.watcher import FolderWatcher, StabilityTracker

log = logging.getLogger("monitor.daemon")
TICK_SECONDS = 0.2


@dataclass
class Work:
    """One unit for a worker: a new file, or a file to resume after a crash."""

    rule: FolderRule
    path: Path | None = None
    row: Row | None = None


class DatabaseGate:
    """A circuit breaker: after a connection failure, wait with exponential backoff and
    jitter, probing with one ping at a time, before letting work through again."""

    def __init__(self, ping: Callable[[], None], base: float = 0.5, cap: float = 30.0) -> None:
        self._ping = ping
        self.base, self.cap = base, cap
        self.failures = 0
        self.up = True
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        """Record a connection failure (opens the circuit)."""
        with self._lock:
            if self.up:
                log.error("database unavailable: %s", exc)
            self.up = False

    def wait_until_up(self, stop: threading.Event) -> bool:
        """Block until the database answers (True) or `stop` is set (False)."""
        while not self.up and not stop.is_set():
            with self._lock:
                if self.up:
                    break
                try:
                    self._ping()
                except Exception as exc:  # the probe itself reports any failure
                    self.failures += 1
                    delay = min(self.cap, self.base * 2 ** min(self.failures, 10))
                    log.warning("database still unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
                else:
                    self.up, self.failures = True, 0
                    log.info("database available again")
                    break
            stop.wait(delay * random.uniform(0.5, 1.0))
        return not stop.is_set()


class Daemon:
    """Watches the configured folders and loads every stable file exactly once."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self.stop_event = threading.Event()
        self.tracker = StabilityTracker(self.settings.settle_seconds)
        self.watcher = FolderWatcher(self.settings, self.tracker)
        self.queue: queue.Queue[Work] = queue.Queue(maxsize=self.settings.queue_size)
        self.gate = DatabaseGate(app.backend.ping)
        self.queued_paths: set[Path] = set()
        self.queued_loads: set[int] = set()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self.started_at = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask for a clean stop."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())

    def run(self) -> None:
        """Run until `stop_event` is set, then drain within the shutdown timeout."""
        self.watcher.start()
        for index in range(self.settings.workers):
            worker = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        log.info("ingest-monitor running: %d folder rule(s), %d worker(s), database %s",
                 len(self.settings.folders), self.settings.workers, self.app.backend.name)
        next_sweep = next_rescan = time.monotonic()
        try:
            while not self.stop_event.is_set():
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep()
                    next_sweep = now + max(1.0, self.settings.lease_seconds / 3)
                if now >= next_rescan:
                    self.watcher.rescan()
                    next_rescan = now + self.settings.rescan_seconds
                self._schedule_ready()
                self.stop_event.wait(TICK_SECONDS)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop watching, let workers finish their file within the timeout."""
        log.info("stopping: finishing files in flight (timeout %.0fs)", self.settings.shutdown_timeout)
        self.stop_event.set()
        self.watcher.stop()
        deadline = time.monotonic() + self.settings.shutdown_timeout
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        unfinished = [w.name for w in self._workers if w.is_alive()]
        if unfinished:
            log.warning("shutdown timeout: %d load(s) left in flight; they resume on restart",
                        len(unfinished))
        log.info("stopped")

    # -- scheduling --------------------------------------------------------------------
    def _schedule_ready(self) -> None:
        if not self.gate.up:
            return
        for candidate in self.tracker.ready():
            with self._lock:
                if candidate.path in self.queued_paths:
                    self.tracker.forget(candidate.path)
                    continue
            if not self._offer(Work(candidate.rule, path=candidate.path)):
                return
            self.tracker.forget(candidate.path)

    def _offer(self, work: Work) -> bool:
        try:
            self.queue.put_nowait(work)
        except queue.Full:
            return False
        with self._lock:
            if work.path is not None:
                self.queued_paths.add(work.path)
            if work.row is not None:
                self.queued_loads.add(work.row.load_id)
        return True

    def _sweep(self) -> None:
        """Finish interrupted moves; queue in-flight files whose lease is ours or expired."""
        try:
            for row in self.app.state.unfinished_moves():
                if row.load_id not in self.app.pipeline.handling:
                    self.app.pipeline.finish_move(row)
            if self.app.backend.supports_leases:
                self.app.state.renew(sorted(self.app.pipeline.handling))
            for row in self.app.state.unfinished():
                with self._lock:
                    if row.load_id in self.queued_loads or row.load_id in self.app.pipeline.handling:
                        continue
                rule = self._rule_of(row)
                if rule is None:
                    log.error("load %s: no rule for %s.%s any more", row.load_id, row.target_schema,
                              row.target_table)
                    continue
                if not self._offer(Work(rule, row=row)):
                    return
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.gate.failed(exc)

    def _rule_of(self, row: Row) -> FolderRule | None:
        source_folder = Path(row.source_path).parent
        matches = [
            rule for rule in self.settings.folders
            if rule.table == row.target_table and self.app.backend.schema_for(rule.reference) == row.target_schema
        ]
        for rule in matches:
            if rule.path.resolve() == source_folder:
                return rule
        return matches[0] if matches else None

    # -- workers -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            try:
                work = self.queue.get(timeout=TICK_SECONDS)
            except queue.Empty:
                if self.stop_event.is_set():
                    return
                continue
            try:
                if self.stop_event.is_set() or not self.gate.wait_until_up(self.stop_event):
                    continue
                self._handle(work)
            finally:
                with self._lock:
                    if work.path is not None:
                        self.queued_paths.discard(work.path)
                    if work.row is not None:
                        self.queued_loads.discard(work.row.load_id)
                self.queue.task_done()

    def _handle(self, work: Work) -> None:
        pipeline = self.app.pipeline
        try:
            if work.row is not None:
                if self.app.state.take_over(work.row.load_id):
                    fresh = self.app.state.get(work.row.load_id)
                    outcome = pipeline.resume(fresh, work.rule)
                    log.info("resumed load %s: %s", work.row.load_id, outcome.status)
                return
            assert work.path is not None
            outcome = pipeline.process(work.path, work.rule, discovered_at=utcnow())
            if outcome.status == "busy" and work.path.exists():
                self.tracker.offer(work.path, work.rule)
        except Exception as exc:
            if is_transient(exc):
                self.gate.failed(exc)
                if work.path is not None and work.path.exists():
                    self.tracker.offer(work.path, work.rule)
            else:
                log.exception("unexpected error on %s", work.path or work.row.file_name)
