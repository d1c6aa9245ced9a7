"""Re-running a file on purpose: retry a failed one from `failed/`, replay an archived one.

Both are new loads with audit rows of their own; the original row is never
changed, only noted (an `ingest_events` row says which load re-ran it). A part of a
snapshot set is re-run with its whole set: every part again, loaded as one snapshot.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, or_, select

from monitor.catalog import events, files
from monitor.config import FolderRule
from monitor.load.state.machine import Status, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.operate.app import App
from monitor.operate.failures import set_note_aside
from monitor.records import FileRecord


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


def _load_with_file(app: App, load_id: int, allowed: tuple[Status, ...],
                    verb: str) -> tuple[FileRecord, Path, FolderRule]:
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


def _later_owner(app: App, row: FileRecord) -> FileRecord | None:
    """A later load that took over the same file (an earlier retry)."""
    query = (select(files)
             .where(or_(files.c.current_path == row.current_path, files.c.source_path == row.current_path),
                    files.c.load_id > row.load_id)
             .order_by(files.c.load_id.desc()).limit(1))
    with app.backend.reading() as conn:
        found = conn.execute(query).first()
    return FileRecord.of(found) if found is not None else None


def retry(app: App, load_id: int) -> Outcome:
    """Load a failed file again: a new load of the file moved from `failed/` back through
    `processing/`. The failed row stays failed. A part of a set: every failed part of it."""
    found = app.state.get(load_id)
    if found is not None and found.status == Status.FAILED:
        _refuse_if_retried(app, found)  # said before "its file is gone": it went on to the later load
    row, _, rule = _load_with_file(app, load_id, (Status.FAILED,), "retry")
    rows = _set_parts(app, row, (Status.FAILED,), "retry")
    outcomes = []
    for part in rows:
        _refuse_if_retried(app, part)
    for part in rows:  # under the name it was dropped with, whatever name it had in failed/
        outcome = app.pipeline.process(Path(part.current_path), rule, replay_of=part.replay_of, name=part.file_name)
        if outcome.load_id is not None:
            note(app, part.load_id, f"retried as load {outcome.load_id}")
            note(app, outcome.load_id, f"retry of load {part.load_id}")
        outcomes.append(outcome)
    ended = _set_outcome(app, outcomes)
    if ended.status in (OutcomeKind.LOADED, OutcomeKind.DUPLICATE):
        for part in rows:
            set_note_aside(part)
    return ended


def _refuse_if_retried(app: App, row: FileRecord) -> None:
    later = _later_owner(app, row)
    if later is not None:
        raise RerunRefused(f"load {row.load_id}: its file was retried as load {later.load_id} ({later.status}); "
                           f"retry that load instead")


def replay(app: App, load_id: int) -> Outcome:
    """Load an archived file again on purpose: a new load with `replay_of` set (exempt from
    duplicate detection and from "newest wins"); the archived file stays where it is (a
    copy is loaded). A part of a set: the whole set, as one snapshot."""
    allowed = (Status.LOADED, Status.DUPLICATE, Status.SUPERSEDED)
    row, _, rule = _load_with_file(app, load_id, allowed, "replay")
    outcomes = []
    for part in _set_parts(app, row, allowed, "replay"):
        outcome = app.pipeline.process(Path(part.current_path), rule, keep_source=True, replay_of=part.load_id)
        if outcome.load_id is not None:
            note(app, part.load_id, f"replayed as load {outcome.load_id}")
        outcomes.append(outcome)
    return _set_outcome(app, outcomes)


def _set_parts(app: App, row: FileRecord, allowed: tuple[Status, ...], verb: str) -> list[FileRecord]:
    """The loads to re-run for `row`: itself, or every part of its set (each in `allowed` and
    with its file still there; a duplicate of a part stands for the part it repeats)."""
    owner = app.state.get(row.duplicate_of) if row.set_id is None and row.duplicate_of is not None else row
    if owner is None or owner.set_id is None:
        return [row]
    parts = [part for part in app.pipeline.sets.store.parts(owner.set_id) if part.status in allowed]
    gone = [part for part in parts if not part.current_path or not Path(part.current_path).is_file()]
    if gone:
        raise RerunRefused(f"load {row.load_id} is a part of set {owner.set_id}, whose parts are re-run together: "
                           f"the file of load {gone[0].load_id} is gone (expected at {gone[0].current_path}); "
                           f"nothing to {verb}")
    return parts


def _set_outcome(app: App, outcomes: list[Outcome]) -> Outcome:
    """One file's outcome; for the parts of a set, the new set's."""
    last = outcomes[-1]
    if len(outcomes) == 1 or last.load_id is None:
        return last
    row = app.state.get(last.load_id)
    return app.pipeline.sets.outcome(row.set_id) if row is not None and row.set_id is not None else last
