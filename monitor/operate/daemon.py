"""The long-running daemon: watch, hand ready files to a bounded worker pool, recover.

Threads: observers (watchdog) -> tracker; the main loop turns stable candidates
into queued work every tick, rescans the folders and pings the service manager's
watchdog; a sweeper thread renews leases, finishes interrupted moves and queues
in-flight files this instance may take over; N workers run the pipeline. The queue
and the tracker are bounded, so a burst of files waits in the folder, not in memory.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Row

from monitor.config import FolderRule
from monitor.errors import brief
from monitor.intake.watcher import FolderWatcher, StabilityTracker
from monitor.load.pipeline import is_transient
from monitor.load.state import journal
from monitor.load.state.leases import renew_interval
from monitor.load.state.machine import IN_FLIGHT, TransitionError, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.operate.app import App
from monitor.operate.gate import DatabaseGate
from monitor.operate.narrator import Narrator
from monitor.operate.notify import Notifier

log = logging.getLogger("monitor.daemon")
TICK_SECONDS = 0.2
MOVE_SWEEP_SECONDS = 300.0  # interrupted moves are finished at start, after outages and this often
BUSY_RETRY_SECONDS = 5.0  # a file whose content is being loaded elsewhere is looked at again after this
WAITING_COUNT_SECONDS = 2.0  # while the database is down, files ready and waiting are counted this often


class SchemaMissing(Exception):
    """The daemon's own tables are gone (the database was dropped and created again)."""


@dataclass
class Work:
    """One unit for a worker: a new file, a file to resume after a crash, or a complete
    snapshot set to load (`set_id`)."""

    rule: FolderRule
    path: Path | None = None
    row: Row | None = None
    discovered_at: datetime | None = None
    set_id: int | None = None

    @property
    def name(self) -> str:
        """The file's name, for the log."""
        if self.path is not None:
            return self.path.name
        if self.set_id is not None:
            return f"set {self.set_id}"
        return str(self.row.file_name) if self.row is not None else "?"


def _where(thread: threading.Thread) -> str:
    """`name at file:line in function`, the innermost frame of a running thread."""
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return thread.name
    stack = traceback.extract_stack(frame)
    inner = next((f for f in reversed(stack) if "/monitor/" in f.filename.replace("\\", "/")), stack[-1])
    return f"{thread.name} at {Path(inner.filename).name}:{inner.lineno} in {inner.name}"


class Daemon:
    """Watches the configured folders and loads every stable file exactly once."""

    def __init__(self, app: App, notifier: Notifier | None = None) -> None:
        self.app = app
        self.settings = app.settings
        self.stop_event = threading.Event()
        self.tracker = StabilityTracker(self.settings.settle_seconds,
                                        max_candidates=max(100, 2 * self.settings.queue_size))
        self.watcher = FolderWatcher(self.settings, self.tracker)
        self.queue: queue.Queue[Work] = queue.Queue(maxsize=self.settings.queue_size)
        self.gate = DatabaseGate(self._open_database)
        self.notifier = notifier or Notifier()
        self.narrator = Narrator(self)
        self.waiting_for_database = 0  # files ready to load while the database is down
        self.queued_paths: set[Path] = set()  # queued or being worked on
        self.queued_loads: set[int] = set()
        self.queued_sets: set[int] = set()
        self._processing: set[Path] = set()  # paths a worker is hashing or claiming now
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._sweeper: threading.Thread | None = None
        self._next_move_sweep = 0.0
        self._reported_orphans: set[int] = set()
        self._next_waiting_note = 0.0
        self._next_waiting_count = 0.0
        self._overflow_noted = False
        self._waiting_noted = 0
        self.started_at = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask for a clean stop; a second one rolls back loads at once."""
        def handle(signum: int, _frame: object) -> None:
            name = signal.Signals(signum).name
            if self.stop_event.is_set():
                log.warning("%s again: rolling back the loads in flight now", name)
                self.app.pipeline.cancel.set()
            else:
                log.info("%s received: stopping", name)
                self.stop_event.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, handle)

    def request_stop(self) -> None:
        """Ask `run` to stop (from any thread, e.g. a Windows service's SvcStop)."""
        self.stop_event.set()

    def run(self) -> None:
        """Run until `stop_event` is set, then finish or roll back within the shutdown timeout."""
        settings = self.settings
        url = self.app.backend.shown_url
        log.info("ingest-monitor starting: instance %s, database %s, %d folder rule(s), %d worker(s), "
                 "settle %.1fs", self.app.state.instance, url, len(settings.folders), settings.workers,
                 settings.settle_seconds)
        self.notifier.status("starting: opening the database")
        try:
            self._open_database()
        except Exception as exc:  # down, or not ready: said once; loads wait, watching goes on
            self.gate.failed(exc)
        if self.gate.up:
            self.notifier.status("recovering interrupted loads")
            self._sweep(moves=True)  # interrupted moves first, and own in-flight files queued
        self.watcher.start()
        for index in range(settings.workers):
            worker = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True)
        self._sweeper.start()
        self.notifier.ready(self.narrator.status_line())
        log.info("ingest-monitor running")
        next_rescan = time.monotonic() + settings.rescan_seconds
        try:
            while not self.stop_event.is_set():
                self.notifier.watchdog()
                now = time.monotonic()
                if self.tracker.overflowed and not self._overflow_noted:
                    self._overflow_noted = True
                    log.info("%d files settling (the most tracked at once); the rest wait in their folder "
                             "for the next rescan", len(self.tracker))
                drained = self.tracker.overflowed and len(self.tracker) < self.tracker.max_candidates // 2
                if now >= next_rescan or drained:
                    self._overflow_noted = False
                    try:
                        self.watcher.check()
                        self.watcher.rescan()
                    except OSError as exc:  # a share that went away: say so, try again next time
                        log.error("rescan failed: %s", exc)
                    next_rescan = now + settings.rescan_seconds
                self._schedule_ready()
                self.narrator.tick(now)
                self.stop_event.wait(TICK_SECONDS)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop watching; let workers finish their file, roll back what is still loading
        near the timeout (it resumes on the next start), and return within the timeout."""
        self.stop_event.set()
        timeout = self.settings.shutdown_timeout
        deadline = time.monotonic() + timeout
        in_flight = len(self.app.pipeline.in_flight)
        self.notifier.stopping(f"finishing {in_flight} load(s) in flight")
        log.info("stopping: finishing %d load(s) in flight (timeout %gs)", in_flight, timeout)
        self.watcher.stop()
        finish_by = deadline - min(10.0, timeout / 3)
        for worker in self._workers:
            worker.join(timeout=max(0.0, finish_by - time.monotonic()))
        if any(worker.is_alive() for worker in self._workers):
            log.warning("stopping: rolling back %d load(s) still in flight; they resume on the next start",
                        len(self.app.pipeline.in_flight))
            self.app.pipeline.cancel.set()
        for thread in [*self._workers, *([self._sweeper] if self._sweeper else [])]:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        left = [thread for thread in self._workers if thread.is_alive()]
        if left:
            log.warning("shutdown timeout: %d worker(s) still busy (%s); their files resume on the next start",
                        len(left), "; ".join(_where(thread) for thread in left))
        log.info("stopped")

    # -- the database ----------------------------------------------------------------
    def _open_database(self) -> None:
        """Make sure files can load: the database answers and holds the daemon's tables
        (created, as at a first start, when they are missing). The gate's probe."""
        self.app.backend.init_db()

    def _database_trouble(self, exc: BaseException) -> bool:
        """True (and the gate opened) when an error means the database cannot take loads now:
        a lost connection, or the daemon's tables gone with the database recreated empty."""
        if not is_transient(exc):
            try:
                if self.app.backend.is_initialised():
                    return False
            except Exception as probe:  # the check could not reach it either
                exc = probe
            else:
                exc = SchemaMissing(f"the daemon's tables are missing ({brief(exc)}); they are created again "
                                    "when the database answers")
        self.gate.failed(exc)
        return True

    # -- scheduling --------------------------------------------------------------------
    def _schedule_ready(self) -> None:
        if not self.gate.up:
            self._note_waiting()
            return
        self._waiting_noted = self.waiting_for_database = 0
        free = self.queue.maxsize - self.queue.qsize()
        if free <= 0:
            return
        now_mono, now = time.monotonic(), utcnow()
        for candidate in self.tracker.ready(limit=free):
            with self._lock:
                already = candidate.path in self.queued_paths
            if not already:
                seen = now - timedelta(seconds=now_mono - candidate.first_seen)
                if not self._offer(Work(candidate.rule, path=candidate.path, discovered_at=seen)):
                    return
            self.tracker.forget(candidate.path)

    def _note_waiting(self) -> None:
        """While the database is down, say (now and then) how many files are ready and waiting."""
        now = time.monotonic()
        if now >= self._next_waiting_count:
            self._next_waiting_count = now + WAITING_COUNT_SECONDS
            self.waiting_for_database = len(self.tracker.ready()) + self.queue.qsize()
        if now < self._next_waiting_note:
            return
        self._next_waiting_note = now + 10.0
        waiting = self.waiting_for_database
        if waiting > self._waiting_noted:
            log.warning("database unavailable: %d file(s) detected and waiting for it", waiting)
            self._waiting_noted = waiting

    def _offer(self, work: Work) -> bool:
        with self._lock:
            try:
                self.queue.put_nowait(work)
            except queue.Full:
                return False
            if work.path is not None:
                self.queued_paths.add(work.path)
            if work.row is not None:
                self.queued_loads.add(work.row.load_id)
            if work.set_id is not None:
                self.queued_sets.add(work.set_id)
        return True

    def _sweep_loop(self) -> None:
        interval = max(0.5, min(renew_interval(self.settings.lease_seconds), 10.0))
        while not self.stop_event.wait(interval):
            was_down = not self.gate.up
            if not self.gate.wait_until_up(self.stop_event):
                return
            moves = was_down or time.monotonic() >= self._next_move_sweep or self.app.pipeline.mover.retry_due()
            self._sweep(moves=moves)

    def _sweep(self, *, moves: bool = False) -> None:
        """Renew our leases; finish interrupted moves; queue in-flight files whose lease is
        ours (after a restart) or has expired (another instance died)."""
        pipeline, state = self.app.pipeline, self.app.state
        try:
            held = pipeline.in_flight.ids()
            if self.app.backend.supports_leases and held:
                state.renew(held)
            if moves:
                for row in state.unfinished_moves():
                    if row.load_id not in pipeline.in_flight:
                        pipeline.finish_move(row)
                self._next_move_sweep = time.monotonic() + MOVE_SWEEP_SECONDS
            for row in state.unfinished():
                with self._lock:
                    busy = (row.load_id in self.queued_loads or row.load_id in pipeline.in_flight
                            or Path(row.source_path) in self._processing)
                if busy:
                    continue
                rule = self.app.rule_of(row)
                if rule is None:
                    if row.load_id not in self._reported_orphans:
                        self._reported_orphans.add(row.load_id)
                        log.error("load %s (%s): no folder rule loads into %s.%s any more; left as %s",
                                  row.load_id, row.file_name, row.target_schema, row.target_table, row.status)
                    continue
                if not self._offer(Work(rule, row=row)):
                    return
            self._sweep_sets()
        except Exception as exc:
            if not self._database_trouble(exc):
                log.exception("recovery sweep failed")

    def _sweep_sets(self) -> None:
        """Queue complete snapshot sets not loaded yet; report sets incomplete past their time."""
        sets = self.app.pipeline.sets
        sets.report_overdue()
        for set_id, rule in sets.ready():
            with self._lock:
                if set_id in self.queued_sets:
                    continue
            if not self._offer(Work(rule, set_id=set_id)):
                return

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
                if not self.stop_event.is_set() and self.gate.wait_until_up(self.stop_event):
                    self._handle(work)
            finally:
                with self._lock:
                    if work.path is not None:
                        self.queued_paths.discard(work.path)
                    if work.row is not None:
                        self.queued_loads.discard(work.row.load_id)
                    if work.set_id is not None:
                        self.queued_sets.discard(work.set_id)
                self.queue.task_done()

    def _handle(self, work: Work) -> None:
        try:
            if work.set_id is not None:
                self._report(self.app.pipeline.load_set(work.set_id, work.rule))
            elif work.row is not None:
                self._resume(work.row, work.rule)
            elif work.path is not None:
                self._process(work.path, work.rule, work.discovered_at)
        except TransitionError as exc:
            log.warning("%s: %s (another instance took it over); leaving it to that instance", work.name, exc)
        except Exception as exc:
            if is_transient(exc) and self.app.pipeline.database_answers():  # not an outage: a statement refused
                log.error("%s: refused by the database: %s; tried again later", work.name, brief(exc))
            elif self._database_trouble(exc):
                if work.path is not None and work.path.exists():
                    self.tracker.offer(work.path, work.rule)
            else:
                log.exception("unexpected error on %s", work.path or work.name)

    def _process(self, path: Path, rule: FolderRule, discovered_at: datetime | None) -> None:
        with self._lock:
            self._processing.add(path)
        settled = (utcnow() - discovered_at).total_seconds() if discovered_at is not None else None
        journal.detected(path, f"{self.app.backend.schema_for(rule.reference)}.{rule.table}", settled)
        try:
            outcome = self.app.pipeline.process(path, rule, discovered_at=discovered_at)
        finally:
            with self._lock:
                self._processing.discard(path)
        self._report(outcome)
        if outcome.status is OutcomeKind.BUSY and path.exists():  # look again later, not at once
            self.tracker.offer(path, rule, delay=BUSY_RETRY_SECONDS)

    def _resume(self, row: Row, rule: FolderRule) -> None:
        state = self.app.state
        if row.load_id in self.app.pipeline.in_flight or not state.take_over(row.load_id):
            return
        fresh = state.get(row.load_id)
        if fresh is None or fresh.status not in IN_FLIGHT:
            return
        log.info("resuming load %s (%s, %s, attempt %d, last held by %s)", fresh.load_id, fresh.file_name,
                 row.status, fresh.attempts, row.claimed_by)
        self._report(self.app.pipeline.resume(fresh, rule))

    @staticmethod
    def _report(outcome: Outcome) -> None:
        if outcome.status is OutcomeKind.BUSY:
            log.debug("%s: %s; will look again", outcome.file, outcome.error)
        elif outcome.status is OutcomeKind.VANISHED:
            log.info("%s: %s", outcome.file, outcome.error)
