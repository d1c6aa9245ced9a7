"""Where a file lives during its life: watched -> processing -> archive/YYYY/MM/DD | failed.

The work folders sit beside the watched folder, one set per watched folder name:
for `data/incoming/companies` they are `data/incoming/processing/companies`,
`data/incoming/archive/companies/YYYY/MM/DD` and `data/incoming/failed/companies`.
Files are only ever moved or copied, never deleted.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path


def work_dir(watched: Path, kind: str) -> Path:
    """`processing`, `archive` or `failed` for a watched folder."""
    watched = watched.resolve()
    return watched.parent / kind / watched.name


def processing_path(watched: Path, load_id: int, name: str) -> Path:
    """Deterministic: recovery finds the file from its load id alone."""
    return work_dir(watched, "processing") / f"{load_id}__{name}"


def free_path(folder: Path, name: str, load_id: int) -> Path:
    """`folder/name`, or `folder/<stem>__<load_id><suffix>` if that is taken."""
    candidate = folder / name
    if not candidate.exists():
        return candidate
    stem, dot, suffix = name.partition(".")
    return folder / f"{stem}__{load_id}{dot}{suffix}"


def archive_path(watched: Path, name: str, load_id: int, when: datetime) -> Path:
    """A free name under `archive/<folder>/YYYY/MM/DD/`."""
    folder = work_dir(watched, "archive") / f"{when:%Y}" / f"{when:%m}" / f"{when:%d}"
    return free_path(folder, name, load_id)


def failed_path(watched: Path, name: str, load_id: int) -> Path:
    """A free name under `failed/<folder>/`."""
    return free_path(work_dir(watched, "failed"), name, load_id)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_file(source: Path, target: Path) -> None:
    """Move durably: rename when on one file system, else copy, fsync, then remove."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target) if os.name == "nt" else os.replace(source, target)
    except OSError:
        shutil.copy2(source, target)
        with target.open("rb") as handle:
            os.fsync(handle.fileno())
        source.unlink()
    _fsync_dir(target.parent)
    if source.parent.exists():
        _fsync_dir(source.parent)


def copy_file(source: Path, target: Path) -> None:
    """Copy durably (the source stays where it is)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(source, partial)
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)
    _fsync_dir(target.parent)
