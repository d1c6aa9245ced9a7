"""What the command line prints: the load summary, one audit record in full, and the times
it reads (`--since`)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.load.state.machine import utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.operate import audit

SUMMARY_COLUMNS = ["file", "target", "status", "read", "loaded", "rejected", "duplicate", "seconds"]
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _summary_row(outcome: Outcome) -> dict[str, object]:
    return {
        "file": outcome.file, "target": outcome.target, "status": outcome.status,
        "read": outcome.rows_read, "loaded": outcome.rows_loaded, "rejected": outcome.rows_rejected,
        "duplicate": "yes" if outcome.status is OutcomeKind.DUPLICATE else "no",
        "seconds": f"{outcome.seconds:.2f}",
    }


def summary(outcomes: list[Outcome]) -> str:
    """The load summary: one line per file, then the totals."""
    ok = sum(1 for o in outcomes if o.ok)
    total = {
        "file": f"total: {len(outcomes)} file(s)", "target": "",
        "status": f"{ok} ok" + (f", {len(outcomes) - ok} not" if ok < len(outcomes) else ""),
        "read": sum(o.rows_read for o in outcomes), "loaded": sum(o.rows_loaded for o in outcomes),
        "rejected": sum(o.rows_rejected for o in outcomes),
        "duplicate": str(sum(1 for o in outcomes if o.status is OutcomeKind.DUPLICATE)),
        "seconds": f"{sum(o.seconds for o in outcomes):.2f}",
    }
    return audit.table([_summary_row(o) for o in outcomes], SUMMARY_COLUMNS, footer=total, width=80)


def outcome_record(outcome: Outcome) -> dict[str, object]:
    """One outcome as `ingest --json` prints it."""
    return {"file": outcome.file, "status": outcome.status.value, "load_id": outcome.load_id,
            "target": outcome.target, "rows_read": outcome.rows_read, "rows_loaded": outcome.rows_loaded,
            "rows_rejected": outcome.rows_rejected, "seconds": round(outcome.seconds, 3), "error": outcome.error,
            "path": outcome.path, "rejects_file": outcome.rejects_file}


def parse_since(value: str) -> datetime:
    """`today`, `yesterday`, an age such as `90m`, `6h`, `2d`, `1w`, or an ISO date or time (UTC)."""
    text = value.strip().lower()
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if text == "today":
        return midnight
    if text == "yesterday":
        return midnight - timedelta(days=1)
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected today, yesterday, an age like 90m / 6h / 2d / 1w, or an ISO date or time"
        ) from exc
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def _shown(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def _field(label: str, value: Any) -> str:
    return f"  {label:<14}{_shown(value)}"


def describe(item: dict[str, Any]) -> str:
    """One audit record as an operator reads it: the record, column mapping, events, rejects."""
    size = item.get("size_bytes")
    lines = [
        f"load {item['load_id']}: {item['file_name']} -> {item['target']} ({item['mode']}): {item['status']}",
        _field("sha256", item.get("sha256")),
        _field("size", f"{size:,} bytes" if isinstance(size, int) else size),
        _field("rows", f"read {_shown(item.get('rows_read'))}, loaded {_shown(item.get('rows_loaded'))}, "
                       f"rejected {_shown(item.get('rows_rejected'))}"),
        *([_field("merged", f"inserted {item.get('rows_inserted')}, updated {item.get('rows_updated')}, "
                            f"unchanged {item.get('rows_unchanged')}, superseded {item.get('rows_superseded')}")]
          if item.get("rows_inserted") is not None else []),
        _field("discovered", item.get("discovered_at")),
        _field("started", item.get("started_at")),
        _field("finished", item.get("finished_at")),
        _field("duration", None if item.get("duration_ms") is None else f"{item['duration_ms'] / 1000:.2f} s"),
        _field("source", item.get("source_path")),
        _field("now at", item.get("current_path")),
        _field("host / user", f"{item.get('host')} / {item.get('os_user')}"),
        _field("claimed by", item.get("claimed_by")),
        _field("attempts", item.get("attempts")),
        _field("duplicate of", item.get("duplicate_of")),
        _field("replay of", item.get("replay_of")),
        _field("snapshot date", item.get("snapshot_date")),
        _field("error", item.get("error")),
    ]
    owner = item.get("set")
    if owner:
        lines.append(_field("set", f"{owner['set_id']}: {owner['set_name']}, part {item.get('set_part')} of "
                                   f"{owner['part_count']}; the set is {owner['status']} ({owner['parts']} parts here"
                                   + (f", missing {owner['missing']})" if owner["missing"] else ")")))

    def section(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
        lines.append("")
        lines.append(f"{title} ({len(rows)}):" if rows else f"{title}: none")
        if rows:
            lines.extend("  " + line for line in audit.table(rows, columns, width=100).splitlines())

    if owner:
        section("parts of its set", owner["part_loads"], ["set_part", "load_id", "file_name", "status"])
    section("column mapping", item.get("column_map") or [], ["header", "column"])
    section("events", item.get("events") or [], ["at", "status", "detail", "instance"])
    section("rejects by reason", item.get("rejects") or [], ["reason", "count"])
    samples = item.get("reject_samples") or []
    if samples:
        section("first rejected records", samples, ["line_number", "column_name", "reason", "raw"])
    return "\n".join(lines)
