"""What the running daemon is doing, sampled live, and its Prometheus metrics.

`Live` reads the daemon's in-memory state (queue, files settling, loads in flight)
and probes the database; the audit tables supply the totals (files by status,
rows loaded and rejected, load durations), so the numbers survive restarts and
agree with what `status` and SQL show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from monitor.load.state import Status, utcnow
from monitor.operate import audit
from monitor.operate.progress import Estimate, estimate, measure

if TYPE_CHECKING:
    from monitor.operate.daemon import Daemon

log = logging.getLogger("monitor.metrics")
DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
PROBE_TIMEOUT = 5.0


class DatabaseProbe:
    """`SELECT 1` with a time limit; at most one probe in flight at a time."""

    def __init__(self, ping: Any, timeout: float = PROBE_TIMEOUT) -> None:
        self._ping = ping
        self.timeout = timeout
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ok = False

    def _run(self) -> None:
        try:
            self._ping()
        except Exception as exc:  # the answer is "down"; say why at debug level
            log.debug("database probe failed: %s", exc)
            self._ok = False
        else:
            self._ok = True

    def up(self) -> bool:
        """True when the database answered within the time limit."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._ok = False
                self._thread = threading.Thread(target=self._run, name="db-probe", daemon=True)
                self._thread.start()
            thread = self._thread
        thread.join(self.timeout)
        return not thread.is_alive() and self._ok


class Live:
    """A read-only view of a running daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.probe = DatabaseProbe(daemon.app.backend.ping)
        self._estimates: dict[int, Estimate | None] = {}

    @property
    def backend(self) -> Any:
        """The daemon's database backend."""
        return self.daemon.app.backend

    def watching(self) -> bool:
        """The daemon runs and its folder observers are alive."""
        return not self.daemon.stop_event.is_set() and self.daemon.watcher.alive()

    def database_up(self) -> bool:
        """The database answers now."""
        return self.probe.up()

    def queue_depth(self) -> int:
        """Files waiting for a worker."""
        return self.daemon.queue.qsize()

    def settling(self) -> int:
        """Files seen in watched folders, waiting to stop changing."""
        return len(self.daemon.tracker)

    def queued_files(self) -> list[str]:
        """Names of the files waiting for a worker, in queue order."""
        work_queue = self.daemon.queue
        with work_queue.mutex:
            waiting = list(work_queue.queue)
        return [work.path.name if work.path is not None else f"{work.row.file_name} (resuming)"
                for work in waiting]

    def in_flight(self) -> list[dict[str, Any]]:
        """Loads in flight with rows read, rate, fraction done and ETA (estimated)."""
        snapshot = self.daemon.app.pipeline.snapshot()
        for gone in set(self._estimates) - set(snapshot):
            self._estimates.pop(gone, None)
        now = utcnow()
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
                "elapsed_seconds": round(elapsed, 1), "fraction": reading.fraction,
                "mb_per_s": reading.mb_per_s, "eta_seconds": reading.eta_seconds,
            })
        return loads

    def _estimate(self, load_id: int) -> Estimate | None:
        try:
            row = self.daemon.app.state.get(load_id)
            return estimate(Path(row.current_path)) if row is not None and row.current_path else None
        except Exception:  # progress is best effort; the load reports its own errors
            return None


class DaemonCollector:
    """Collects the daemon's metrics at scrape time."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        """Live gauges, then the audit-table totals when the database answers."""
        up = self.live.database_up()
        yield _gauge("ingest_database_up", "1 when the database answers SELECT 1", up)
        yield _gauge("ingest_watching", "1 when the daemon runs and watches its folders", self.live.watching())
        yield _gauge("ingest_queue_depth", "Files queued for a worker", self.live.queue_depth())
        yield _gauge("ingest_files_settling", "Files seen, waiting to stop changing", self.live.settling())
        yield _gauge("ingest_loads_in_flight", "Loads running now", self.live.daemon.app.pipeline.in_flight.loads())
        if up:
            try:
                yield from self._audit_metrics()
            except Exception as exc:  # a scrape never fails; the gap shows the problem
                log.warning("metrics: cannot read the audit tables: %s", exc)

    def _audit_metrics(self) -> Iterator[Metric]:
        backend = self.live.backend
        counts = audit.status_counts(backend)
        per_target = audit.targets(backend)
        histograms = audit.durations(backend, DURATION_BUCKETS)
        files = GaugeMetricFamily("ingest_files", "Files in the audit trail by target and status",
                                  labels=["target", "status"])
        known = {(item["target"], item["status"]): item["files"] for item in counts}
        for target in sorted({item["target"] for item in counts}):
            for status in Status:
                files.add_metric([target, status.value], known.get((target, status.value), 0))
        yield files
        loaded = CounterMetricFamily("ingest_rows_loaded", "Rows loaded per target", labels=["target"])
        rejected = CounterMetricFamily("ingest_rows_rejected", "Rows rejected per target", labels=["target"])
        inserted = CounterMetricFamily("ingest_rows_inserted", "Rows a merge inserted per target", labels=["target"])
        updated = CounterMetricFamily("ingest_rows_updated", "Rows a merge updated per target", labels=["target"])
        for item in per_target:
            loaded.add_metric([item["target"]], item["rows_loaded"])
            rejected.add_metric([item["target"]], item["rows_rejected"])
            if item["mode"] == "merge":
                inserted.add_metric([item["target"]], item["rows_inserted"])
                updated.add_metric([item["target"]], item["rows_updated"])
        yield loaded
        yield rejected
        yield inserted
        yield updated
        durations = HistogramMetricFamily("ingest_load_duration_seconds",
                                          "Duration of loaded files, claim to commit", labels=["target"])
        for item in histograms:
            buckets = [(_bound(bound), count) for bound, count in item["buckets"]] + [("+Inf", item["count"])]
            durations.add_metric([item["target"]], buckets, item["sum_seconds"])
        yield durations


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _bound(value: float) -> str:
    return repr(float(value))


class Exposition:
    """The Prometheus text exposition of one daemon's metrics."""

    def __init__(self, live: Live) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(live))
        self.started = time.monotonic()

    def render(self) -> bytes:
        """The metrics as Prometheus text format, collected now."""
        return generate_latest(self.registry)
