"""The daemon's Prometheus metrics (`/metrics`), collected at scrape time.

Live gauges come from the daemon (`Live`): the database's state, watching, queue, files
settling and waiting, loads in flight and the longest one's age. Lifetime totals come from the
audit tables (counters: files by final status, rows loaded and rejected, bytes, files with
rejects; per-target last-success time; the durations histogram), so they survive restarts and
agree with `status` and SQL. While the database does not answer, the audit series keep their
last known values (with `ingest_audit_read_timestamp_seconds` saying when they were read), so
`rate()` and `absent()` see no gap. `process_*` and `python_info` are prometheus_client's own.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from monitor import __version__
from monitor.load.sets.machine import SetStatus
from monitor.load.state.machine import IN_FLIGHT, TERMINAL, Status
from monitor.operate import audit, failures
from monitor.operate.metrics import Live

log = logging.getLogger("monitor.metrics")
DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
ZERO_KEYS = ("files_loaded", "rows_loaded", "rows_rejected", "bytes_loaded", "files_with_rejects", "rows_inserted",
             "rows_updated")
SET_SAMPLE = 1000  # open sets looked at for `ingest_sets_incomplete_overdue`


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _epoch(value: object) -> float | None:
    """Seconds since 1970 of a UTC time read from the audit trail (a datetime or its text)."""
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC).timestamp() if when.tzinfo is None else when.timestamp()


class DaemonCollector:
    """Collects the daemon's metrics at scrape time."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self._audit: list[Metric] = []  # the last audit series read, served while the database is down
        self._audit_read_at: float | None = None

    def collect(self) -> Iterator[Metric]:
        """Live gauges, then the audit-table series (the last known ones when they cannot be read)."""
        live = self.live
        info = InfoMetricFamily("ingest_build", "The running ingest-monitor")
        info.add_metric([], {"version": __version__, "python": platform.python_version(),
                             "backend": live.backend.name})
        yield info
        database = live.database()
        health = live.health()
        yield _gauge("ingest_database_up", "1 when the database answers", database.answers)
        yield _gauge("ingest_database_schema_ready", "1 when the database holds the daemon's tables",
                     database.schema)
        yield _gauge("ingest_ready", "1 when files can load now (watching, database up with its tables, "
                                     "loads not paused)", health["status"] == "ok")
        yield _gauge("ingest_loads_paused", "1 while loads wait for the database (circuit breaker open)",
                     live.loads_paused())
        yield _gauge("ingest_watching", "1 when the daemon runs and watches its folders", live.watching())
        yield _gauge("ingest_database_writable", "0 while loads wait because the database refuses the loader's "
                     "writes (read-only, permission denied)", health["writable"])
        folders = GaugeMetricFamily("ingest_folder_ready", "1 when the watched folder is there and readable",
                                    labels=["folder"])
        for folder, ready in health["folders"].items():
            folders.add_metric([folder], ready)
        yield folders
        yield _gauge("ingest_queue_depth", "Files queued for a worker", live.queue_depth())
        yield _gauge("ingest_files_settling", "Files seen, waiting to stop changing", live.settling())
        yield _gauge("ingest_files_waiting_for_database", "Files ready to load, waiting for the database",
                     live.waiting())
        expected = GaugeMetricFamily("ingest_target_expected_interval_seconds",
                                     "How often a file is expected per target (rules with expected_every_hours)",
                                     labels=["target"])
        for rule in live.daemon.settings.folders:
            if rule.expected_every_hours:
                target = f"{live.backend.schema_for(rule.reference)}.{rule.table}"
                expected.add_metric([target], rule.expected_every_hours * 3600)
        yield expected
        loads = live.in_flight()
        yield _gauge("ingest_loads_in_flight", "Loads running now", len(loads))
        yield _gauge("ingest_load_in_flight_seconds_max", "How long the longest load running now has run",
                     max((load["elapsed_seconds"] for load in loads), default=0.0))
        if database.answers:
            try:
                self._audit = list(self._audit_metrics())
                self._audit_read_at = time.time()
            except Exception as exc:  # a scrape never fails: the last known values stand
                log.warning("metrics: cannot read the audit tables: %s", exc)
        yield from self._audit
        if self._audit_read_at is not None:
            yield _gauge("ingest_audit_read_timestamp_seconds", "When the audit-table series were last read",
                         self._audit_read_at)

    def _audit_metrics(self) -> Iterator[Metric]:
        backend = self.live.backend
        counts = audit.status_counts(backend)
        configured = self._configured()
        per_target = audit.targets(backend)
        per_target += [{"target": name, "mode": mode, **dict.fromkeys(ZERO_KEYS, 0), "last_loaded_at": None}
                       for name, mode in configured.items() if name not in {item["target"] for item in per_target}]
        known = {(item["target"], item["status"]): item["files"] for item in counts}
        names = sorted({item["target"] for item in counts} | set(configured))
        unresolved = failures.unresolved_counts(backend)
        failed = GaugeMetricFamily("ingest_files_failed_unresolved",
                                   "Failed files still needing action (no later load of the same name or content "
                                   "loaded), by target", labels=["target"])
        for target in names:
            failed.add_metric([target], unresolved.get(target, 0))
        yield failed
        in_progress = GaugeMetricFamily("ingest_files_in_progress",
                                        "Files claimed, loading or waiting for their set, by target",
                                        labels=["target", "status"])
        ended = CounterMetricFamily("ingest_files", "Files that reached their end, by target and status",
                                    labels=["target", "status"])
        for target in names:
            for status in (*IN_FLIGHT, Status.WAITING):
                in_progress.add_metric([target, status.value], known.get((target, status.value), 0))
            for status in TERMINAL:
                ended.add_metric([target, status.value], known.get((target, status.value), 0))
        yield in_progress
        yield ended
        counters = {
            "rows_loaded": CounterMetricFamily("ingest_rows_loaded", "Rows loaded per target", labels=["target"]),
            "rows_rejected": CounterMetricFamily("ingest_rows_rejected", "Rows rejected per target (of loaded files)",
                                                 labels=["target"]),
            "bytes_loaded": CounterMetricFamily("ingest_bytes_loaded", "Bytes of the files loaded, per target",
                                                labels=["target"]),
            "files_with_rejects": CounterMetricFamily("ingest_files_with_rejects",
                                                      "Files loaded with rejected rows, per target",
                                                      labels=["target"]),
        }
        merged = {
            "rows_inserted": CounterMetricFamily("ingest_rows_inserted", "Rows a merge inserted, per target",
                                                 labels=["target"]),
            "rows_updated": CounterMetricFamily("ingest_rows_updated", "Rows a merge updated, per target",
                                                labels=["target"]),
        }
        last = GaugeMetricFamily("ingest_target_last_success_timestamp_seconds",
                                 "When a file last loaded into the target (Unix time)", labels=["target"])
        for item in per_target:
            for key, family in counters.items():
                family.add_metric([item["target"]], item[key])
            if item["mode"] == "merge":
                for key, family in merged.items():
                    family.add_metric([item["target"]], item[key])
            loaded_at = _epoch(item["last_loaded_at"])
            if loaded_at is not None:
                last.add_metric([item["target"]], loaded_at)
        yield from counters.values()
        yield from merged.values()
        yield last
        durations = HistogramMetricFamily("ingest_load_duration_seconds",
                                          "Duration of loaded files, claim to commit", labels=["target"])
        timed = audit.durations(backend, DURATION_BUCKETS)
        timed += [{"target": name, "buckets": [(bound, 0) for bound in DURATION_BUCKETS], "count": 0, "sum_seconds": 0}
                  for name in configured if name not in {item["target"] for item in timed}]
        for item in timed:
            buckets = [(repr(float(bound)), count) for bound, count in item["buckets"]] + [("+Inf", item["count"])]
            durations.add_metric([item["target"]], buckets, item["sum_seconds"])
        yield durations
        yield from self._set_metrics()

    def _set_metrics(self) -> Iterator[Metric]:
        """Snapshot sets by target and status, and those incomplete past their `set_timeout`."""
        counts = audit.set_counts(self.live.backend)
        waiting = audit.snapshot_sets(self.live.backend, limit=SET_SAMPLE, open_only=True,
                                      timeouts=self.live.daemon.app.pipeline.sets.timeouts())
        sets = GaugeMetricFamily("ingest_sets", "Snapshot sets by target and status", labels=["target", "status"])
        overdue = GaugeMetricFamily("ingest_sets_incomplete_overdue",
                                    "Snapshot sets still incomplete after their set_timeout", labels=["target"])
        known = {(item["target"], item["status"]): item["sets"] for item in counts}
        fullload = {name for name, mode in self._configured().items() if mode == "fullload"}
        for target in sorted({item["target"] for item in counts} | fullload):
            for status in SetStatus:
                sets.add_metric([target, status.value], known.get((target, status.value), 0))
            overdue.add_metric([target], sum(1 for item in waiting if item["target"] == target and item["incomplete"]))
        yield sets
        yield overdue


    def _configured(self) -> dict[str, str]:
        """Each configured target (`schema.table`) and its mode: its series exist from the start, at 0,
        so the first failure is an increase and alerts fire on it."""
        live = self.live
        return {f"{live.backend.schema_for(rule.reference)}.{rule.table}": rule.mode
                for rule in live.daemon.settings.folders}


class Exposition:
    """The Prometheus text exposition of one daemon's metrics, with the process's own."""

    def __init__(self, live: Live) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(live))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)

    def render(self) -> bytes:
        """The metrics as Prometheus text format, collected now."""
        return generate_latest(self.registry)
