"""Failed files that still need someone: a failed load stays in need until a later load of
the same target with the same content or the same file name ends loaded (a retry, or the
file dropped again, corrected). The status page lists only these, `/metrics` counts them
(`ingest_files_failed_unresolved`), a failed load's page names the load that resolved it,
and a successful retry sets the `.error.txt` note aside in `failed/resolved/` (never deleted)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from monitor.backends import Backend
from monitor.catalog import files
from monitor.intake.folders import free_path, move_file
from monitor.load.state.machine import Status
from monitor.load.state.moves import error_note_path
from monitor.operate.audit import record
from monitor.records import FileRecord

log = logging.getLogger("monitor.failures")
RESOLVING = (Status.LOADED.value, Status.DUPLICATE.value, Status.SUPERSEDED.value)
RESOLVED_FOLDER = "resolved"
_later = files.alias("later")


def _resolved_by() -> ColumnElement[bool]:
    """A later load of the same target, same content or same name, that ended well."""
    return and_(_later.c.load_id > files.c.load_id, _later.c.target_schema == files.c.target_schema,
                _later.c.target_table == files.c.target_table, _later.c.status.in_(RESOLVING),
                or_(_later.c.sha256 == files.c.sha256, _later.c.file_name == files.c.file_name))


def _needing_action() -> ColumnElement[bool]:
    return and_(files.c.status == Status.FAILED.value, ~exists().where(_resolved_by()))


def unresolved(backend: Backend, limit: int = 20) -> list[dict[str, Any]]:
    """Failed loads still needing action, newest first."""
    query = select(files).where(_needing_action()).order_by(files.c.load_id.desc()).limit(limit)
    with backend.reading() as conn:
        return [record(row) for row in FileRecord.all(conn.execute(query))]


def unresolved_counts(backend: Backend) -> dict[str, int]:
    """Per target (`schema.table`), the failed files still needing action."""
    query = (select(files.c.target_schema, files.c.target_table, func.count().label("n"))
             .where(_needing_action()).group_by(files.c.target_schema, files.c.target_table))
    with backend.reading() as conn:
        return {f"{r.target_schema}.{r.target_table}": int(r.n) for r in conn.execute(query)}


def resolution(backend: Backend, load_id: int) -> dict[str, Any] | None:
    """For a failed load, the first later load that resolved it (`load_id`, `status`, `file_name`)."""
    query = (select(_later.c.load_id, _later.c.status, _later.c.file_name).select_from(files)
             .where(files.c.load_id == load_id, files.c.status == Status.FAILED.value, _resolved_by())
             .order_by(_later.c.load_id).limit(1))
    with backend.reading() as conn:
        row = conn.execute(query).first()
    return dict(row._mapping) if row is not None else None


def set_note_aside(row: FileRecord) -> Path | None:
    """Move a resolved failure's `.error.txt` from `failed/` into `failed/resolved/` (kept, never
    written over); the path it went to, or None when there was none."""
    if not row.current_path:
        return None
    note = error_note_path(Path(row.current_path))
    if not os.path.lexists(note):
        return None
    folder = note.parent / RESOLVED_FOLDER
    folder.mkdir(exist_ok=True)
    target = folder / note.name
    try:
        move_file(note, target)
    except FileExistsError:
        target = free_path(folder, note.name, row.load_id)
        move_file(note, target)
    log.info("load %s resolved: its note %s set aside in %s", row.load_id, note.name, folder)
    return target
