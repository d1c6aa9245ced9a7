"""Reading the audit trail: recent loads, one load in full, snapshot sets, per-target totals, as
records or a table."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, and_, case, func, or_, select

from monitor.backends import Backend
from monitor.catalog import events, files, rejects, sets
from monitor.load.state.machine import TERMINAL, Status, utcnow
from monitor.records import FileRecord, SetRecord

REJECT_SAMPLES = 10
SUMMARY_COLUMNS = [
    "load_id", "file_name", "sha256", "target", "mode", "status", "rows_read", "rows_loaded",
    "rows_rejected", "started_at", "finished_at", "duration_ms", "error",
]


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else value


def record(row: FileRecord) -> dict[str, Any]:
    """An audit record as a JSON-ready dict (`target` is `schema.table`)."""
    data = {key: _plain(value) for key, value in asdict(row).items()}
    data["target"] = f"{row.target_schema}.{row.target_table}"
    if data.get("column_map"):
        data["column_map"] = json.loads(data["column_map"])
    return data


def _of_target(query: Select[Any], table: Table, target: str | None) -> Select[Any]:
    """`query` limited to one target (`table` or `schema.table`) of `table`'s rows."""
    if target:
        schema, _, name = target.rpartition(".")
        query = query.where(table.c.target_table == name)
        if schema:
            query = query.where(table.c.target_schema == schema)
    return query


def recent(
    backend: Backend, *, limit: int = 50, target: str | None = None, status: str | None = None,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The newest loads first, filtered by target (`table` or `schema.table`), status and time."""
    query = _of_target(select(files).order_by(files.c.load_id.desc()).limit(limit), files, target)
    if status:
        query = query.where(files.c.status == status)
    if since:
        query = query.where(files.c.started_at >= since)
    with backend.reading() as conn:
        return [record(row) for row in FileRecord.all(conn.execute(query))]


def snapshot_sets(
    backend: Backend, *, limit: int = 50, target: str | None = None, timeouts: dict[str, float] | None = None,
    open_only: bool = False,
) -> list[dict[str, Any]]:
    """Snapshot sets, newest first (`open_only`: those still waiting or loading), each with its
    parts here and missing and whether it is incomplete past its target's `set_timeout`."""
    query = _of_target(select(sets).order_by(sets.c.set_id.desc()).limit(limit), sets, target)
    if open_only:
        query = query.where(sets.c.status.in_(["waiting", "loading"]))
    out = []
    with backend.reading() as conn:
        for row in SetRecord.all(conn.execute(query).all()):  # read whole first: one result set at a time (FreeTDS)
            out.append(set_record(row, _parts(conn, row.set_id), timeouts or {}))
    return out


def _parts(conn: Connection, set_id: int) -> list[dict[str, Any]]:
    query = (select(files.c.load_id, files.c.set_part, files.c.file_name, files.c.status)
             .where(files.c.set_id == set_id).order_by(files.c.set_part, files.c.load_id))
    return [dict(part._mapping) for part in conn.execute(query)]


def set_record(row: SetRecord, parts: list[dict[str, Any]], timeouts: dict[str, float]) -> dict[str, Any]:
    """A set as a JSON-ready dict: its record, its parts, `parts` (`3 of 7`), `missing` part
    numbers, and `incomplete` (when it waits past its target's `set_timeout`)."""
    data = {key: _plain(value) for key, value in asdict(row).items()}
    target = data["target"] = f"{row.target_schema}.{row.target_table}"
    here = sorted({part["set_part"] for part in parts if part["set_part"] is not None})
    data["parts"] = f"{len(here)} of {row.part_count}"
    data["missing"] = ", ".join(str(n) for n in range(1, row.part_count + 1) if n not in here)
    data["part_loads"] = parts
    data["incomplete"] = None
    if row.status == "waiting":
        waited = (utcnow() - row.first_seen_at).total_seconds()
        timeout = timeouts.get(target)
        if row.overdue_at is not None or (timeout is not None and waited > timeout):
            limit = f" (set_timeout {timeout:g} s)" if timeout else ""
            data["incomplete"] = f"overdue: waiting {waited:.0f} s{limit}"
    return data


def find(backend: Backend, key: str) -> list[dict[str, Any]]:
    """Loads matching a load id, a file name or a SHA-256 prefix, each with its events and
    a summary of its rejects."""
    query = select(files).order_by(files.c.load_id)
    if key.isdigit():
        query = query.where(files.c.load_id == int(key))
    else:
        name = key.replace("\\", "/").rsplit("/", 1)[-1]
        clauses = [files.c.file_name == name]
        if all(char in "0123456789abcdefABCDEF" for char in key) and len(key) >= 6:
            clauses.append(files.c.sha256.startswith(key.lower()))
        query = query.where(or_(*clauses))
    found = []
    with backend.reading() as conn:
        for row in FileRecord.all(conn.execute(query).all()):  # read whole first: one result set at a time
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
                    .order_by(func.count().desc(), rejects.c.reason)
                )
            ]
            item["reject_samples"] = [
                {key: value for key, value in reject._mapping.items() if key != "load_id"}
                for reject in conn.execute(
                    select(rejects.c.line_number, rejects.c.column_name, rejects.c.reason, rejects.c.raw)
                    .where(rejects.c.load_id == row.load_id)
                    .order_by(rejects.c.reject_id)
                    .limit(REJECT_SAMPLES)
                )
            ]
            if row.set_id is not None:
                owner = conn.execute(select(sets).where(sets.c.set_id == row.set_id)).first()
                if owner is not None:
                    item["set"] = set_record(SetRecord.of(owner), _parts(conn, row.set_id), {})
            found.append(item)
    return found


def status_counts(backend: Backend) -> list[dict[str, Any]]:
    """How many files each target has in each status."""
    return _by_status(backend, files, "files")


def set_counts(backend: Backend) -> list[dict[str, Any]]:
    """How many snapshot sets each target has in each status."""
    return _by_status(backend, sets, "sets")


def _by_status(backend: Backend, table: Table, label: str) -> list[dict[str, Any]]:
    query = (
        select(table.c.target_schema, table.c.target_table, table.c.status, func.count().label(label))
        .group_by(table.c.target_schema, table.c.target_table, table.c.status)
        .order_by(table.c.target_schema, table.c.target_table, table.c.status)
    )
    with backend.reading() as conn:
        return [{"target": f"{r.target_schema}.{r.target_table}", "status": r.status, label: r._mapping[label]}
                for r in conn.execute(query)]


def targets(backend: Backend) -> list[dict[str, Any]]:
    """Per target: files loaded, rows loaded and rejected (merges: inserted, updated) in all,
    the rows it holds now (fullload: the latest load's, or its whole set's; append: every
    load's; merge: every row inserted) and when it was last loaded."""
    loaded = files.c.status == Status.LOADED.value
    totals = (
        select(
            files.c.target_schema, files.c.target_table,
            func.max(files.c.mode).label("mode"),
            func.sum(case((loaded, 1), else_=0)).label("files_loaded"),
            func.coalesce(func.sum(case((loaded, files.c.rows_loaded), else_=0)), 0).label("rows_loaded"),
            func.coalesce(func.sum(case((loaded, files.c.rows_rejected), else_=0)), 0).label("rows_rejected"),
            func.coalesce(func.sum(case((loaded, files.c.size_bytes), else_=0)), 0).label("bytes_loaded"),
            func.sum(case((and_(loaded, files.c.rows_rejected > 0), 1), else_=0)).label("files_with_rejects"),
            func.coalesce(func.sum(case((loaded, files.c.rows_inserted), else_=0)), 0).label("rows_inserted"),
            func.coalesce(func.sum(case((loaded, files.c.rows_updated), else_=0)), 0).label("rows_updated"),
            func.max(case((loaded, files.c.load_id))).label("last_load_id"),
            func.max(case((loaded, files.c.finished_at))).label("last_loaded_at"),
        )
        .group_by(files.c.target_schema, files.c.target_table)
        .subquery()
    )
    latest = files.alias("latest")
    query = (
        select(totals, latest.c.rows_loaded.label("last_rows"), sets.c.rows_loaded.label("set_rows"))
        .select_from(totals.outerjoin(latest, and_(latest.c.load_id == totals.c.last_load_id))
                     .outerjoin(sets, sets.c.set_id == latest.c.set_id))
        .order_by(totals.c.target_schema, totals.c.target_table)
    )
    with backend.reading() as conn:
        out = []
        for r in conn.execute(query):
            snapshot = r.set_rows if r.set_rows is not None else r.last_rows
            current = {"fullload": snapshot or 0, "merge": r.rows_inserted}.get(r.mode, r.rows_loaded)
            out.append({
                "target": f"{r.target_schema}.{r.target_table}", "mode": r.mode,
                "files_loaded": int(r.files_loaded or 0), "rows_loaded": int(r.rows_loaded or 0),
                "rows_rejected": int(r.rows_rejected or 0), "rows_now": int(current or 0),
                "bytes_loaded": int(r.bytes_loaded or 0), "files_with_rejects": int(r.files_with_rejects or 0),
                "rows_inserted": int(r.rows_inserted or 0), "rows_updated": int(r.rows_updated or 0),
                "last_load_id": r.last_load_id, "last_loaded_at": _plain(r.last_loaded_at),
            })
        return out


def durations(backend: Backend, bounds: list[float]) -> list[dict[str, Any]]:
    """Per target, a cumulative histogram of loaded files' durations: for each bound (in
    seconds) how many took at most that long, plus their count and total seconds."""
    loaded = files.c.status == Status.LOADED.value
    columns = [
        func.sum(case((and_(loaded, files.c.duration_ms <= bound * 1000), 1), else_=0)).label(f"le_{i}")
        for i, bound in enumerate(bounds)
    ]
    query = (
        select(
            files.c.target_schema, files.c.target_table, *columns,
            func.sum(case((loaded, 1), else_=0)).label("count"),
            func.coalesce(func.sum(case((loaded, files.c.duration_ms), else_=0)), 0).label("total_ms"),
        )
        .where(files.c.duration_ms.is_not(None))
        .group_by(files.c.target_schema, files.c.target_table)
        .order_by(files.c.target_schema, files.c.target_table)
    )
    with backend.reading() as conn:
        return [
            {
                "target": f"{r.target_schema}.{r.target_table}",
                "buckets": [(bound, int(getattr(r, f"le_{i}") or 0)) for i, bound in enumerate(bounds)],
                "count": int(r._mapping["count"] or 0), "sum_seconds": float(r.total_ms or 0) / 1000,
            }
            for r in conn.execute(query)
        ]


def target_names(backend: Backend) -> list[str]:
    """Every target (`schema.table`) the audit trail knows."""
    query = select(files.c.target_schema, files.c.target_table).distinct()
    with backend.reading() as conn:
        return sorted(f"{r.target_schema}.{r.target_table}" for r in conn.execute(query))


def finished_since(backend: Backend, since: datetime, limit: int = 100_000) -> list[dict[str, Any]]:
    """Files that reached their end since `since` (UTC): when, status, rows and bytes loaded."""
    query = (select(files.c.finished_at, files.c.status, files.c.rows_loaded, files.c.rows_rejected,
                    files.c.size_bytes)
             .where(files.c.finished_at >= since, files.c.status.in_([s.value for s in TERMINAL]))
             .order_by(files.c.finished_at.desc()).limit(limit))
    with backend.reading() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def table(rows: list[dict[str, Any]], columns: list[str], footer: dict[str, Any] | None = None,
          width: int = 60) -> str:
    """A plain text table, one line per row, columns padded to fit (cells cut at `width`);
    `footer` is a totals line below a rule."""
    every = [*rows, footer] if footer is not None else rows
    cells = [[("" if row.get(col) is None else str(row.get(col))).replace("\n", " ") for col in columns]
             for row in every]
    cells = [[value if len(value) <= width else value[: width - 3] + "..." for value in line] for line in cells]
    widths = [max([len(col), *(len(line[i]) for line in cells)]) for i, col in enumerate(columns)]
    rule = "  ".join("-" * width for width in widths)
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(line)).rstrip() for line in cells]
    out = ["  ".join(col.ljust(widths[i]) for i, col in enumerate(columns)).rstrip(), rule, *lines]
    if footer is not None:
        out.insert(len(out) - 1, rule)
    return "\n".join(out)
