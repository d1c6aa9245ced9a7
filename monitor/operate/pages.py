"""What the status page shows, as JSON-ready dicts: the overview (filtered by target, status
and time), one load in full, and the rows loaded per hour for the throughput chart.

While the database does not answer, the overview keeps what it last read and says when that
was (`stale_since`), so an outage never reads as "no loads yet"; before the first read it says
the loads are unknown (None).
"""

from __future__ import annotations

import argparse
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.load.state.machine import IN_FLIGHT, Status, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.operate import audit
from monitor.operate.failures import resolution, unresolved
from monitor.operate.metrics import Live
from monitor.operate.refusals import shrink_refused
from monitor.operate.reports import parse_since

RECENT_LOADS = 50
RECENT_FAILURES = 20
RECENT_SETS = 20
CHART_HOURS = 24
LOAD_FIELDS = ["load_id", "file_name", "target", "mode", "status", "rows_read", "rows_loaded", "rows_rejected",
               "rows_inserted", "rows_updated", "started_at", "finished_at", "duration_ms", "replay_of",
               "duplicate_of", "error"]
FILTERS = ("target", "status", "since")


class BadFilter(ValueError):
    """A filter the page cannot apply; the message says which and why."""


def _filters(query: dict[str, str]) -> dict[str, Any]:
    chosen: dict[str, Any] = {key: query[key].strip() for key in FILTERS if query.get(key, "").strip()}
    if "status" in chosen and chosen["status"] not in {status.value for status in Status}:
        raise BadFilter(f"status: {chosen['status']!r} is not one of {', '.join(s.value for s in Status)}")
    if "since" in chosen:
        try:
            chosen["since"] = parse_since(chosen["since"])
        except argparse.ArgumentTypeError as exc:
            raise BadFilter(f"since: {exc}") from None
    return chosen


def throughput(finished: list[dict[str, Any]], now: datetime, hours: int = CHART_HOURS) -> list[dict[str, Any]]:
    """Per hour (oldest first, the current hour last): files loaded and failed, rows and bytes loaded."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    counts: list[dict[str, int]] = [{"files": 0, "failed": 0, "rows": 0, "bytes": 0} for _ in range(hours)]
    for item in finished:
        at = item["finished_at"]
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        index = int((when.replace(tzinfo=None) - start).total_seconds() // 3600)
        if not 0 <= index < hours:
            continue
        bucket = counts[index]
        if item["status"] == Status.FAILED:
            bucket["failed"] += 1
        elif item["status"] == Status.LOADED:
            bucket["files"] += 1
            bucket["rows"] += int(item["rows_loaded"] or 0)
            bucket["bytes"] += int(item["size_bytes"] or 0)
    return [{"hour": (start + timedelta(hours=i)).isoformat(sep=" ", timespec="minutes"), **bucket}
            for i, bucket in enumerate(counts)]


def freshness(targets: list[dict[str, Any]], expected: dict[str, float], now: datetime) -> list[dict[str, Any]]:
    """Each target with how long ago it last loaded (`age_seconds`), how often a file is
    expected (`expected_seconds`, None when its rule says nothing) and `stale` (older than that)."""
    out = []
    for item in targets:
        last = item.get("last_loaded_at")
        when = datetime.fromisoformat(str(last)).replace(tzinfo=None) if last else None
        age = (now.replace(tzinfo=None) - when).total_seconds() if when else None
        every = expected.get(item["target"])
        out.append({**item, "age_seconds": None if age is None else round(age), "expected_seconds": every,
                    "stale": bool(every is not None and (age is None or age > every))})
    return out


def _outage(live: Live) -> dict[str, Any] | None:
    """Since when (UTC) loads wait for the database, and the seconds to its next try."""
    found = live.daemon.gate.outage()
    if found is None:
        return None
    since = datetime.fromtimestamp(found[0], UTC).replace(tzinfo=None)
    return {"since": since.isoformat(sep=" ", timespec="seconds"), "next_try_seconds": round(found[1], 1)}


def missing_parts(item: dict[str, Any]) -> list[str]:
    """The file names a waiting part's set still lacks, named as this part is
    (`BasicCompanyData-2026-11-01-part2_7.zip` beside `...-part1_7.zip`)."""
    match = re.search(r"-part(\d+)_(\d+)(?=\.|$)", item["file_name"])
    numbers = [n.strip() for n in str(item["set"]["missing"]).split(",") if n.strip()]
    if match is None:
        return [f"part {n}" for n in numbers]
    head, tail = item["file_name"][:match.start()], item["file_name"][match.end():]
    return [f"{head}-part{n}_{match.group(2)}{tail}" for n in numbers]


def hints(item: dict[str, Any]) -> list[str]:
    """What an operator can do next with a load, as commands and notes."""
    load_id, status, later = item["load_id"], item["status"], item.get("resolved_by")
    found = [f"ingest-monitor show {load_id}"]
    if status == Status.FAILED and later:
        found.insert(0, f"resolved: {later['file_name']} loaded later as load {later['load_id']} "
                        f"({later['status']}); nothing to do")
    elif status == Status.FAILED:
        found.insert(0, f"fix the cause, then: ingest-monitor retry {load_id}")
    elif status in (Status.LOADED, Status.DUPLICATE):
        found.append(f"to load the archived file again on purpose: ingest-monitor replay {load_id}")
    elif status in IN_FLIGHT:
        found.insert(0, "in flight: this page follows it")
    elif status == Status.WAITING and item.get("set", {}).get("missing"):
        found.insert(0, f"waiting for its set's missing part(s): {', '.join(missing_parts(item))}; "
                        "drop them into the same folder")
    if item.get("rows_rejected") and status == Status.LOADED:
        found.insert(0, f"{item['rows_rejected']} row(s) were rejected and not loaded: correct them from the "
                        "rejects file and drop them as a new file")
    return found


KEPT_LOADS = 200  # loads whose last reading the load page shows while the database is away


class Pages:
    """The payloads of the status page, for one running daemon."""

    _read_keys = ("loads", "failures", "targets", "known_targets", "throughput", "sets", "in_flight_elsewhere",
                  "shrink_refused")

    def __init__(self, live: Live) -> None:
        self.live = live
        self._lock = threading.Lock()
        self._last: dict[str, Any] | None = None  # the last overview read from the database
        self._last_at: str | None = None
        self._loads: dict[int, dict[str, Any]] = {}  # the last loads read, shown during an outage

    def overview(self, query: dict[str, str] | None = None) -> dict[str, Any]:
        """Everything the overview shows; `query` filters the loads (target, status, since)."""
        live = self.live
        chosen = _filters(query or {})
        health = live.health()
        payload: dict[str, Any] = {
            "generated_at": utcnow().isoformat(sep=" ", timespec="seconds"),
            "instance": live.daemon.app.state.instance,
            "watching": health["watching"], "database_up": health["database"], "schema": health["schema"],
            "loads_paused": health["loads_paused"], "health": health["status"], "causes": health["causes"],
            "outage": _outage(live),
            "queue": {"queued": live.queue_depth(), "settling": live.settling(), "waiting": live.waiting(),
                      "files": live.queued_files()},
            "in_flight": live.in_flight(), "streams": health.get("streams", []),
            "filters": {key: query[key] for key in FILTERS if query and query.get(key)},
            "loads": None, "failures": None, "targets": None, "known_targets": None, "throughput": None,
            "sets": None, "shrink_refused": None, "error": None, "stale_since": None, "in_flight_elsewhere": None,
        }
        if health["database"]:
            try:
                payload.update(self._read(chosen))
                if not chosen:
                    with self._lock:
                        self._last = {key: payload[key] for key in self._read_keys}
                        self._last_at = payload["generated_at"]
                return payload
            except Exception as exc:  # shown on the page instead of failing the request
                payload["error"] = f"cannot read the audit tables: {exc}"
        else:
            payload["error"] = "the database does not answer"
        with self._lock:
            if self._last is not None and not chosen:
                payload.update(self._last)
                payload["stale_since"] = self._last_at
        return payload

    def _read(self, chosen: dict[str, Any]) -> dict[str, Any]:
        backend = self.live.backend
        loads = audit.recent(backend, limit=RECENT_LOADS, **chosen)
        failures = unresolved(backend, limit=RECENT_FAILURES)
        now = utcnow()
        return {
            "loads": [{k: r.get(k) for k in LOAD_FIELDS} for r in loads],
            "failures": [{k: r.get(k) for k in LOAD_FIELDS} for r in failures],
            "targets": freshness(audit.targets(backend), self._expected(), now),
            "known_targets": audit.target_names(backend),
            "throughput": throughput(audit.finished_since(backend, now - timedelta(hours=CHART_HOURS)), now),
            "in_flight_elsewhere": self._elsewhere(now),
            "sets": audit.snapshot_sets(backend, limit=RECENT_SETS,
                                        timeouts=self.live.daemon.app.pipeline.sets.timeouts()),
            "shrink_refused": [item for item in shrink_refused(backend) if item["refused"]],
        }

    def _elsewhere(self, now: datetime) -> list[dict[str, Any]]:
        """Loads in flight in the audit trail that this daemon does not run (a CLI `ingest`,
        another instance), with how long they have run and who holds them."""
        own = set(self.live.daemon.app.pipeline.snapshot())
        out = []
        for item in audit.recent(self.live.backend, limit=RECENT_LOADS, statuses=[s.value for s in IN_FLIGHT]):
            if item["load_id"] in own:
                continue
            started = datetime.fromisoformat(str(item["started_at"])).replace(tzinfo=None)
            out.append({"load_id": item["load_id"], "file": item["file_name"], "target": item["target"],
                        "phase": item["status"], "claimed_by": item["claimed_by"], "started_at": item["started_at"],
                        "elapsed_seconds": round(max((now.replace(tzinfo=None) - started).total_seconds(), 0), 1)})
        return out

    def _expected(self) -> dict[str, float]:
        """Each target's expected interval in seconds (rules with `expected_every_hours`)."""
        backend = self.live.backend
        return {f"{backend.schema_for(rule.reference)}.{rule.table}": rule.expected_every_hours * 3600
                for rule in self.live.daemon.settings.folders if rule.expected_every_hours}

    def load(self, load_id: int) -> dict[str, Any] | None:
        """One load in full (record, events, column map, rejects, hints), None when unknown."""
        found = audit.find(self.live.backend, str(load_id))
        if not found:
            return None
        item = found[0]
        side = self.rejects_file(item)
        item["rejects_file"] = str(side) if side else None
        item["rejects_download"] = f"/load/{load_id}/rejects.csv" if side else None
        item["resolved_by"] = resolution(self.live.backend, load_id) if item["status"] == Status.FAILED else None
        item["hints"] = hints(item)
        with self._lock:
            self._loads.pop(load_id, None)
            self._loads[load_id] = {**item, "read_at": utcnow().isoformat(sep=" ", timespec="seconds")}
            while len(self._loads) > KEPT_LOADS:
                self._loads.pop(next(iter(self._loads)))
        return item

    def load_in_outage(self, load_id: int) -> tuple[bool, dict[str, Any]]:
        """While the database does not answer: (True, the load as last read, with the outage
        named) when it was read before, else (False, an error naming the outage)."""
        outage = _outage(self.live)
        away = "the database does not answer" + (
            f" (since {outage['since']} UTC, next try in {outage['next_try_seconds']:.0f} s)" if outage else "")
        with self._lock:
            kept = self._loads.get(load_id)
        if kept is None:
            return False, {"error": f"{away}: load {load_id} cannot be read until it does", "outage": outage}
        return True, {**kept, "stale_since": kept["read_at"], "outage": outage,
                      "unavailable": f"{away}: shown as read at {kept['read_at']} UTC"}

    @staticmethod
    def rejects_file(item: dict[str, Any]) -> Path | None:
        """The rejects file beside a load's file, when there is one."""
        outcome = Outcome(item["file_name"], status=OutcomeKind.of(item["status"]),
                          rows_rejected=item.get("rows_rejected") or 0, path=item.get("current_path"))
        side = outcome.rejects_file
        return Path(side) if side else None
