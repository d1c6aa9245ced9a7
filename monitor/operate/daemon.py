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
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from monitor.config import FolderRule
from monitor.errors import brief
from monitor.intake.watcher import FolderWatcher, StabilityTracker
from monitor.load import setup
from monitor.load.jobs import FileJob, Job, ResumeJob, SetJob
from monitor.load.pipeline import is_transient
from monitor.load.state import journal
from monitor.load.state.leases import renew_interval
from monitor.load.state.machine import TransitionError, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.operate.app import App
from monitor.operate.gate import DatabaseGate, SchemaMissing, WriteRefused
from monitor.operate.narrator import Narrator, where
from monitor.operate.notify import Notifier
from monitor.operate.reload import install_signals
from monitor.stream.runner import Streams

log = logging.getLogger("monitor.daemon")
TICK_SECONDS = 0.2
MOVE_SWEEP_SECONDS = 300.0  # interrupted moves are finished at start, after outages and this often
BUSY_RETRY_SECONDS = 5.0  # a file whose content is being loaded elsewhere is looked at again after this
WAITING_COUNT_SECONDS = 2.0  # while the database is down, files ready and waiting are counted this often




class Daemon:
    """Watches the configured folders and loads every stable file exactly once."""

    def __init__(self, app: App, notifier: Notifier | None = None) -> None:
        self.app = app
        self.settings = app.settings
        self.stop_event = threading.Event()
        self.tracker = StabilityTracker(self.settings.settle_seconds,
                                        max_candidates=max(100, 2 * self.settings.queue_size))
        self.watcher = FolderWatcher(self.settings, self.tracker)
        self.queue: queue.Queue[Job] = queue.Queue(maxsize=self.settings.queue_size)
        self.gate = DatabaseGate(self._open_database)
        self.notifier = notifier or Notifier()
        self.narrator = Narrator(self)
        self.streams = Streams(app.backend, self.settings.streams, app.state.instance)
        self.waiting_for_database = 0  # files ready to load while the database is down
        self.queued_paths: set[Path] = set()  # queued or being worked on
        self.queued_loads: set[int] = set()
        self.queued_sets: set[int] = set()
        self._processing: set[Path] = set()  # paths a worker is hashing or claiming now
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._sweeper: threading.Thread | None = None
        self._next_move_sweep = 0.0
        self._swept = False  # a sweep reached the database (the first drops left staging tables)
        self._next_waiting_note = 0.0
        self._next_waiting_count = 0.0
        self._overflow_noted = False
        self._waiting_noted = 0
        self.started_at = time.monotonic()
        self.on_tick: list[Callable[[], None]] = []  # run by the main loop (a reload asked for, health)

    # -- lifecycle ---------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask for a clean stop; a second one rolls back loads at once."""
        install_signals(self, None)

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
            self._clear_leftovers()
            self._sweep(moves=True)  # left staging and interrupted moves first, then resumes
            self.streams.recover()
        self.watcher.start()
        for index in range(settings.workers):
            worker = threading.Thread(target=self._work, name=f"worker-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self._sweeper = threading.Thread(target=self._sweep_loop, name="sweeper", daemon=True)
        self._sweeper.start()
        self.streams.start()
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
                for hook in self.on_tick:
                    hook()
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
        self.streams.stop(min(10.0, timeout / 3))
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
                        len(left), "; ".join(where(thread) for thread in left))
        log.info("stopped")

    # -- the database ----------------------------------------------------------------
    def _open_database(self) -> None:
        """Make sure files can load: the database answers and holds the daemon's tables
        (created, as at a first start, when they are missing), and it lets the loader write.
        The gate's probe."""
        backend = self.app.backend
        try:
            refused = backend.write_problem()
            if refused is None:
                setup.init_db(backend)
        except Exception as exc:
            refused = backend.write_refusal(exc)
            if refused is None:
                raise
        if refused is not None or self.gate.refused:  # sessions keep the settings they started with:
            backend.dispose()  # the next check, and the loads after a refusal, open new ones
        if refused is not None:
            raise WriteRefused(refused)

    def _database_trouble(self, exc: BaseException) -> bool:
        """True (and the gate opened) when an error means the database cannot take loads now:
        a lost connection, or the daemon's tables gone with the database recreated empty."""
        if not is_transient(exc) and not isinstance(exc, WriteRefused):
            try:
                if setup.is_initialised(self.app.backend):
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
                if not self._offer(FileJob(candidate.rule, candidate.path, seen)):
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

    def _offer(self, job: Job) -> bool:
        with self._lock:
            try:
                self.queue.put_nowait(job)
            except queue.Full:
                return False
            match job:
                case FileJob(path=path):
                    self.queued_paths.add(path)
                case ResumeJob(record=record):
                    self.queued_loads.add(record.load_id)
                case SetJob(set_id=set_id):
                    self.queued_sets.add(set_id)
        return True

    def _sweep_loop(self) -> None:
        interval = max(0.5, min(renew_interval(self.settings.lease_seconds), 10.0))
        while not self.stop_event.wait(interval):
            was_down = not self.gate.up
            if not self.gate.wait_until_up(self.stop_event):
                return
            moves = was_down or time.monotonic() >= self._next_move_sweep or self.app.pipeline.mover.retry_due()
            self._sweep(moves=moves)

    def _clear_leftovers(self) -> None:
        try:
            self.app.pipeline.clear_leftovers()
        except Exception as exc:
            if not self._database_trouble(exc):
                log.exception("clearing what ended loads left failed")

    def _sweep(self, *, moves: bool = False) -> None:
        """Renew our leases; then recovery's sweep (`monitor.load.recovery`): the first time it
        reaches the database, staging tables of ended loads dropped; interrupted moves finished;
        loads in flight whose lease is ours (after a restart) or has expired (another instance
        died), and complete sets, queued."""
        pipeline, state = self.app.pipeline, self.app.state
        try:
            held = pipeline.in_flight.ids()
            if self.app.backend.supports_leases and held:
                state.renew(held)
            for job in pipeline.recovery.sweep(moves=moves, start=not self._swept, queued=self._queued):
                if not self._offer(job):
                    break
            self._swept = True
            if moves:
                self._next_move_sweep = time.monotonic() + MOVE_SWEEP_SECONDS
        except Exception as exc:
            if not self._database_trouble(exc):
                log.exception("recovery sweep failed")

    def _queued(self, job: Job) -> bool:
        """Whether a job is queued or being worked on already (a file being hashed included)."""
        with self._lock:
            match job:
                case FileJob(path=path):
                    return path in self.queued_paths
                case ResumeJob(record=record):
                    return record.load_id in self.queued_loads or Path(record.source_path) in self._processing
                case SetJob(set_id=set_id):
                    return set_id in self.queued_sets
        return False

    # -- workers -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            try:
                job = self.queue.get(timeout=TICK_SECONDS)
            except queue.Empty:
                if self.stop_event.is_set():
                    return
                continue
            try:
                if not self.stop_event.is_set() and self.gate.wait_until_up(self.stop_event):
                    self._handle(job)
            finally:
                with self._lock:
                    match job:
                        case FileJob(path=path):
                            self.queued_paths.discard(path)
                        case ResumeJob(record=record):
                            self.queued_loads.discard(record.load_id)
                        case SetJob(set_id=set_id):
                            self.queued_sets.discard(set_id)
                self.queue.task_done()

    def _handle(self, job: Job) -> None:
        try:
            match job:
                case SetJob(rule=rule, set_id=set_id):
                    self._report(self.app.pipeline.load_set(set_id, rule))
                case ResumeJob():
                    resumed = self.app.pipeline.recovery.resume_job(job)
                    if resumed is not None:
                        self._report(resumed)
                case FileJob(rule=rule, path=path, discovered_at=discovered_at):
                    self._process(path, rule, discovered_at)
        except TransitionError as exc:
            log.warning("%s: %s (another instance took it over); leaving it to that instance", job.name, exc)
        except Exception as exc:
            refused = self.app.backend.write_refusal(exc)
            exc = WriteRefused(refused) if refused is not None else exc
            if is_transient(exc) and self.app.pipeline.database_answers():  # not an outage: a statement refused
                log.error("%s: refused by the database: %s; tried again later", job.name, brief(exc))
            elif self._database_trouble(exc):
                if isinstance(job, FileJob) and job.path.exists():
                    self.tracker.offer(job.path, job.rule)
            else:
                log.exception("unexpected error on %s", job.path if isinstance(job, FileJob) else job.name)

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

    @staticmethod
    def _report(outcome: Outcome) -> None:
        if outcome.status is OutcomeKind.BUSY:
            log.debug("%s: %s; will look again", outcome.file, outcome.error)
        elif outcome.status is OutcomeKind.VANISHED:
            log.info("%s: %s", outcome.file, outcome.error)
