"""Targets a guard holds back: those whose latest fullload was refused by the shrink guard
(and not loaded since). For `/metrics` (`ingest_shrink_refused{target}`) and the page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from monitor.backends import Backend
from monitor.catalog import files
from monitor.load.state.machine import Status
from monitor.load.write.shrink import SHRINK_MARK


def shrink_refused(backend: Backend) -> list[dict[str, Any]]:
    """Per fullload target, whether its latest load to end `loaded` or `failed` was refused by
    the shrink guard: `target`, `refused` (bool), and the refused load's `load_id` and `error`."""
    ended = (files.c.mode == "fullload", files.c.status.in_([Status.LOADED.value, Status.FAILED.value]))
    latest = (select(func.max(files.c.load_id).label("load_id")).where(*ended)
              .group_by(files.c.target_schema, files.c.target_table).subquery())
    query = (select(files.c.load_id, files.c.target_schema, files.c.target_table, files.c.status, files.c.error)
             .where(files.c.load_id.in_(select(latest.c.load_id))).order_by(files.c.target_schema,
                                                                          files.c.target_table))
    with backend.reading() as conn:
        rows = list(conn.execute(query))
    out = []
    for row in rows:
        refused = row.status == Status.FAILED.value and SHRINK_MARK in (row.error or "")
        out.append({"target": f"{row.target_schema}.{row.target_table}", "refused": refused,
                    "load_id": row.load_id if refused else None, "error": row.error if refused else None})
    return out
