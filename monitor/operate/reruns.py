"""Re-running a file on purpose: retry a failed one from `failed/`, replay an archived one.

Both are new loads with audit rows of their own; the original row is never
changed, only noted (an `ingest_events` row says which load re-ran it).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Row, insert, select

from monitor.catalog import events, files
from monitor.config import FolderRule
from monitor.load.outcome import Outcome
from monitor.load.state import Status, utcnow
from monitor.operate.app import App


class RerunRefused(Exception):
    """The load cannot be re-run; the message says why."""


def note(app: App, load_id: int, detail: str) -> None:
    """Add an event to a load's history without changing its state."""
    row = app.state.get(load_id)
    if row is None:
        return
    with app.backend.transaction() as conn:
        conn.execute(insert(events).values(load_id=load_id, at=utcnow(), status=row.status, detail=detail,
                                           instance=app.state.instance))


def _load_with_file(app: App, load_id: int, allowed: tuple[Status, ...], verb: str) -> tuple[Row, Path, FolderRule]:
    row = app.state.get(load_id)
    if row is None:
        raise RerunRefused(f"no load {load_id}")
    if row.status not in allowed:
        wanted = " or ".join(status.value for status in allowed)
        raise RerunRefused(f"load {load_id} ({row.file_name}) is {row.status}, not {wanted}: nothing to {verb}")
    path = Path(row.current_path) if row.current_path else None
    if path is None or not path.is_file():
        raise RerunRefused(f"load {load_id}: its file is gone (expected at {row.current_path})")
    rule = app.rule_of(row)
    if rule is None:
        raise RerunRefused(f"load {load_id}: no folder rule loads into {row.target_schema}.{row.target_table} any more")
    return row, path, rule


def _later_owner(app: App, row: Row) -> Row | None:
    """A later load that took over the same file (an earlier retry)."""
    query = (select(files.c.load_id, files.c.status)
             .where(files.c.current_path == row.current_path, files.c.load_id > row.load_id)
             .order_by(files.c.load_id.desc()).limit(1))
    with app.backend.reading() as conn:
        return conn.execute(query).first()


def retry(app: App, load_id: int) -> Outcome:
    """Load a failed file again: a new load of the file moved from `failed/` back through
    `processing/`. The failed row stays failed."""
    row, path, rule = _load_with_file(app, load_id, (Status.FAILED,), "retry")
    later = _later_owner(app, row)
    if later is not None:
        raise RerunRefused(f"load {load_id}: its file was retried as load {later.load_id} ({later.status}); "
                           f"retry that load instead")
    outcome = app.pipeline.process(path, rule, replay_of=row.replay_of)
    if outcome.load_id is not None:
        note(app, load_id, f"retried as load {outcome.load_id}")
        note(app, outcome.load_id, f"retry of load {load_id}")
    return outcome


def replay(app: App, load_id: int) -> Outcome:
    """Load an archived file again on purpose: a new load with `replay_of` set (exempt from
    duplicate detection); the archived file stays where it is (a copy is loaded)."""
    _, path, rule = _load_with_file(app, load_id, (Status.LOADED, Status.DUPLICATE), "replay")
    outcome = app.pipeline.process(path, rule, keep_source=True, replay_of=load_id)
    if outcome.load_id is not None:
        note(app, load_id, f"replayed as load {outcome.load_id}")
    return outcome
