"""A file's moves between its folders, each recorded before it is made, so that a crash at
any point leaves a move that the next sweep finishes (`finish`): into `processing/` when
taken in, to `archive/` or `failed/` (with its error note and rejects) when it ends.

No move writes over a file, the daemon's side files included: a name taken since the move
was recorded (the file's or one of its side files') is given up for a free one. A move that
fails (a full disk) is said in one line, naming the folder, stays recorded and is tried
again by the sweep, sooner at first, then less often."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from monitor.intake.folders import copy_file, disk_problem, free_path, move_file, rejects_path, write_note
from monitor.load.state.status import Status
from monitor.records import FileRecord

log = logging.getLogger("monitor.pipeline")
RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0


class Recorder(Protocol):
    """Where a mover records where a file is (`StateStore` is one; it holds its mover)."""

    def update(self, load_id: int, **values: Any) -> None: ...

    def get(self, load_id: int) -> FileRecord | None: ...


class Mover:
    """Moves files and records where they are, through the state store."""

    def __init__(self, state: Recorder) -> None:
        self.state = state
        self.stalled: dict[int, int] = {}  # load id -> failed tries of its recorded move
        self._retry_at = 0.0

    def relocate(self, load_id: int, source: Path, target: Path, *, copy: bool = False) -> None:
        """Record where the file goes, move (or copy) it, then record that it arrived."""
        self.state.update(load_id, pending_move_to=str(target))
        (copy_file if copy else move_file)(source, target)
        self.state.update(load_id, current_path=str(target), pending_move_to=None)

    def retry_due(self) -> bool:
        """Whether a move that failed should be tried again now."""
        return bool(self.stalled) and time.monotonic() >= self._retry_at

    def finish(self, row: FileRecord) -> None:
        """Carry out the recorded move of a file that reached its end (archive or failed),
        whether it was interrupted by a crash or not; safe to repeat, and safe when another
        instance does the same move at the same time. A move that fails is left recorded."""
        assert row.pending_move_to is not None, "a move is recorded before it is finished"
        source, target = Path(row.current_path), Path(row.pending_move_to)
        try:
            moved = self._finish(row, source, target)
        except OSError as exc:
            self._stall(row, source, target, exc)
            return
        if moved is None:
            return
        self.state.update(row.load_id, current_path=str(moved), pending_move_to=None)
        tries = self.stalled.pop(row.load_id, 0)
        if tries:
            log.info("load %s: %s moved to %s after %d failed tries", row.load_id, row.file_name, moved, tries)

    def _finish(self, row: FileRecord, source: Path, target: Path) -> Path | None:
        if os.path.lexists(source):
            if not _usable(row, source, target):  # the name was taken after the move was recorded
                target = free_path(target.parent, target.name, row.load_id)
                self.state.update(row.load_id, pending_move_to=str(target))
            if row.status == Status.FAILED:
                write_error_note(row, target)
            carry_rejects(source, target, row.load_id)
            move_file(source, target)
        elif not os.path.lexists(target):
            log.error("load %s: %s is neither at %s nor at %s", row.load_id, row.file_name, source, target)
            return None
        return target

    def _stall(self, row: FileRecord, source: Path, target: Path, exc: OSError) -> None:
        tries = self.stalled[row.load_id] = self.stalled.get(row.load_id, 0) + 1
        level = logging.ERROR if tries == 1 else logging.DEBUG
        log.log(level, "load %s: cannot move %s to %s: %s; it stays at %s and the move is tried again",
                row.load_id, row.file_name, target.parent, disk_problem(exc, target.parent), source)
        delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** min(tries - 1, 10))
        self._retry_at = time.monotonic() + delay

    def finish_recorded(self, load_id: int) -> None:
        """Finish the move recorded with a load's last transition, if any."""
        row = self.state.get(load_id)
        if row is not None and row.pending_move_to:
            self.finish(row)


def _same(first: Path, second: Path) -> bool:
    return os.path.lexists(first) and os.path.samefile(first, second)


def _usable(row: FileRecord, source: Path, target: Path) -> bool:
    """Whether `target` may still be used: free, or already holding this file (a move cut
    short by a crash), and its side files' names too."""
    if os.path.lexists(target) and not _same(source, target):
        return False
    side = rejects_path(target)
    if os.path.lexists(side) and not _same(rejects_path(source), side):
        return False
    note = error_note_path(target)
    return not os.path.lexists(note) or _is_own_note(note, row)


def error_note_path(target: Path) -> Path:
    """`<name>.error.txt` beside a failed file."""
    return target.with_name(target.name + ".error.txt")


def _is_own_note(note: Path, row: FileRecord) -> bool:
    try:
        with note.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return f"\nload id: {row.load_id}\n" in head


def write_error_note(row: FileRecord, target: Path) -> None:
    """`<name>.error.txt` beside a failed file: what, where, when and why (written once)."""
    note = error_note_path(target)
    if os.path.lexists(note) and _is_own_note(note, row):
        return
    failed_at = f"{row.finished_at:%Y-%m-%d %H:%M:%S} UTC" if row.finished_at else "unknown"
    text = (f"file: {row.source_path}\nload id: {row.load_id}\ntarget: {row.target_schema}.{row.target_table}\n"
            f"failed at: {failed_at}\nerror: {row.error}\n")
    if not write_note(note, text):
        raise FileExistsError(f"{note}: the name is taken (never written over)")


def carry_rejects(path: Path, target: Path, load_id: int) -> None:
    """Move a file's rejects side file along with it (to a free name, should its own be taken)."""
    side = rejects_path(path)
    if not os.path.lexists(side):
        return
    dest = rejects_path(target)
    try:
        move_file(side, dest)
    except FileExistsError:
        move_file(side, free_path(dest.parent, dest.name, load_id))
