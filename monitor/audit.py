"""Reading the audit trail: recent loads, one load in full, as records or a table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, or_, select

from monitor.backends import Backend
from monitor.catalog import events, files, rejects

SUMMARY_COLUMNS = [
    "load_id", "file_name", "sha256", "target", "mode", "status", "rows_read", "rows_loaded",
    "rows_rejected", "started_at", "finished_at", "duration_ms", "error",
]


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else value


def record(row: Row) -> dict[str, Any]:
    """An audit row as a JSON-ready dict (`target` is `schema.table`)."""
    data = {key: _plain(value) for key, value in row._mapping.items()}
    data["target"] = f"{row.target_schema}.{row.target_table}"
    if data.get("column_map"):
        data["column_map"] = json.loads(data["column_map"])
    return data


def recent(
    backend: Backend, *, limit: int = 50, target: str | None = None, status: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest loads first, filtered by target (`table` or `schema.table`), status and time."""
    query = select(files).order_by(files.c.load_id.desc()).limit(limit)
    if target:
        schema, _, table = target.rpartition(".")
        query = query.where(files.c.target_table == table)
        if schema:
            query = query.where(files.c.target_schema == schema)
    if status:
        query = query.where(files.c.status == status)
    if since:
        query = query.where(files.c.started_at >= since)
    with backend.reading() as conn:
        return [record(row) for row in conn.execute(query)]


def find(backend: Backend, key: str) -> list[dict[str, Any]]:
    """Loads matching a load id, a file name or a SHA-256 prefix, each with its events and
    a summary of its rejects."""
    query = select(files).order_by(files.c.load_id)
    if key.isdigit():
        query = query.where(files.c.load_id == int(key))
    else:
        query = query.where(or_(files.c.file_name == key, files.c.sha256.startswith(key.lower())))
    found = []
    with backend.reading() as conn:
        for row in conn.execute(query):
            item = record(row)
            item["events"] = [
                {key: _plain(value) for key, value in event._mapping.items()}
                for event in conn.execute(
                    select(events).where(events.c.load_id == row.load_id).order_by(events.c.event_id)
                )
            ]
            item["rejects"] = [
                {"reason": reason, "count": count}
                for reason, count in conn.execute(
                    select(rejects.c.reason, func.count())
                    .where(rejects.c.load_id == row.load_id)
                    .group_by(rejects.c.reason)
                )
            ]
            found.append(item)
    return found


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain text table, one line per row, columns padded to fit."""
    cells = [[("" if row.get(col) is None else str(row.get(col))).replace("\n", " ") for col in columns]
             for row in rows]
    cells = [[value if len(value) <= 60 else value[:57] + "..." for value in line] for line in cells]
    widths = [max([len(col), *(len(line[i]) for line in cells)]) for i, col in enumerate(columns)]
    out = ["  ".join(col.ljust(widths[i]) for i, col in enumerate(columns))]
    out.append("  ".join("-" * width for width in widths))
    out.extend("  ".join(value.ljust(widths[i]) for i, value in enumerate(line)) for line in cells)
    return "\n".join(out)
