"""A file's moves between its folders, each recorded before it is made, so that a crash at
any point leaves a move that the next sweep finishes (`finish`): into `processing/` when
taken in, to `archive/` or `failed/` (with its error note and rejects) when it ends."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Row

from monitor.intake.folders import copy_file, free_path, move_file
from monitor.load.run import rejects_path
from monitor.load.state import StateStore, Status

log = logging.getLogger("monitor.pipeline")


class Mover:
    """Moves files and records where they are, through the state store."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def relocate(self, load_id: int, source: Path, target: Path, *, copy: bool = False) -> None:
        """Record where the file goes, move (or copy) it, then record that it arrived."""
        self.state.update(load_id, pending_move_to=str(target))
        (copy_file if copy else move_file)(source, target)
        self.state.update(load_id, current_path=str(target), pending_move_to=None)

    def finish(self, row: Row) -> None:
        """Carry out the recorded move of a file that reached its end (archive or failed),
        whether it was interrupted by a crash or not; safe to repeat, and safe when another
        instance does the same move at the same time."""
        source, target = Path(row.current_path), Path(row.pending_move_to)
        if row.status == Status.FAILED:
            write_error_note(row, target)
        carry_rejects(source, target)
        if source.exists():
            if target.exists():  # the name was taken after the move was recorded
                target = free_path(target.parent, target.name, row.load_id)
            try:
                move_file(source, target)
            except FileNotFoundError:
                if not target.exists():
                    raise
        elif not target.exists():
            log.error("load %s: %s is neither at %s nor at %s", row.load_id, row.file_name, source, target)
            return
        self.state.update(row.load_id, current_path=str(target), pending_move_to=None)

    def finish_recorded(self, load_id: int) -> None:
        """Finish the move recorded with a load's last transition, if any."""
        row = self.state.get(load_id)
        if row is not None and row.pending_move_to:
            self.finish(row)


def locate(row: Row) -> Path | None:
    """Where a file in flight is now: where it was recorded, on its way to, or dropped."""
    for candidate in (row.current_path, row.pending_move_to, row.source_path):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def write_error_note(row: Row, target: Path) -> None:
    """`<name>.error.txt` beside a failed file: what, where, when and why."""
    note = target.with_name(target.name + ".error.txt")
    if note.exists():
        return
    note.parent.mkdir(parents=True, exist_ok=True)
    failed_at = f"{row.finished_at:%Y-%m-%d %H:%M:%S} UTC" if row.finished_at else "unknown"
    note.write_text(
        f"file: {row.source_path}\nload id: {row.load_id}\ntarget: {row.target_schema}.{row.target_table}\n"
        f"failed at: {failed_at}\nerror: {row.error}\n",
        encoding="utf-8",
    )


def carry_rejects(path: Path, target: Path) -> None:
    """Move a file's rejects side file along with it."""
    side = rejects_path(path)
    if side.exists():
        move_file(side, rejects_path(target))
