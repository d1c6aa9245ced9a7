"""Where a file lives during its life: watched -> processing -> archive/YYYY/MM/DD | failed.

The work folders sit beside the watched folder, one set per watched folder name:
for `data/incoming/companies` they are `data/incoming/processing/companies`,
`data/incoming/archive/companies/YYYY/MM/DD` and `data/incoming/failed/companies`.
Files are only ever moved or copied, never deleted, and never written over: every name
the daemon makes from a dropped name fits the file system's 255 bytes (with room for the
side files `<name>.rejects.csv` and `<name>.error.txt`), and a name already taken, or
whose side files are, is never used.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

NAME_MAX_BYTES = 255  # a file name's limit on every common file system
SIDE_SUFFIXES = (".rejects.csv", ".error.txt")  # files the daemon keeps beside a file
NAME_ROOM = NAME_MAX_BYTES - 16  # what a file's own name may take: room for its side files
_EXTENSION = re.compile(r"(?:\.[A-Za-z0-9]{1,10}){1,2}$")
_NO_HARD_LINKS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}


def rejects_path(path: Path) -> Path:
    """The side file of a file's rejects: `<name>.rejects.csv` beside it."""
    return path.with_name(path.name + SIDE_SUFFIXES[0])


def fit_name(name: str, room: int = NAME_ROOM) -> str:
    """`name` itself when it takes at most `room` bytes; else cut to fit, keeping its
    extensions (`.csv.gz`) and adding `~` and 8 hex digits of the whole name's SHA-256, so
    that names cut alike stay apart. Never cuts a character in two."""
    data = os.fsencode(name)
    if len(data) <= room:
        return name
    found = _EXTENSION.search(name)
    suffix = found.group(0) if found else ""
    mark = "~" + hashlib.sha256(data).hexdigest()[:8]
    keep = room - len(mark) - len(suffix.encode())
    stem = os.fsencode(name[: len(name) - len(suffix)])[:keep].decode("utf-8", "ignore")
    return f"{stem}{mark}{suffix}"


def readable_name(name: str) -> str | None:
    """None for a name a database can store (valid UTF-8); else the name read as
    Windows-1252, as such a file's content would be (`caf\\xe9.csv` -> `café.csv`)."""
    raw = os.fsencode(name)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
    return None


def work_dir(watched: Path, kind: str) -> Path:
    """`processing`, `archive` or `failed` for a watched folder."""
    watched = watched.resolve()
    return watched.parent / kind / watched.name


def processing_path(watched: Path, load_id: int, name: str) -> Path:
    """Deterministic: recovery finds the file from its load id alone."""
    return work_dir(watched, "processing") / fit_name(f"{load_id}__{name}")


def side_paths(path: Path) -> list[Path]:
    """The side files a file may have beside it."""
    return [path.with_name(path.name + suffix) for suffix in SIDE_SUFFIXES]


def is_free(path: Path) -> bool:
    """Nothing holds the name, nor the names of its side files."""
    return not any(os.path.lexists(candidate) for candidate in (path, *side_paths(path)))


def free_path(folder: Path, name: str, load_id: int) -> Path:
    """`folder/name`, or `folder/<stem>__<load_id><suffix>` (then `__<load_id>_2`, ...) when
    that name or one of its side files' names is taken; every name fitted."""
    candidate = folder / fit_name(name)
    stem, dot, suffix = name.partition(".")
    attempt = 1
    while not is_free(candidate):
        mark = f"__{load_id}" + (f"_{attempt}" if attempt > 1 else "")
        candidate = folder / fit_name(f"{stem}{mark}{dot}{suffix}")
        attempt += 1
    return candidate


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


def _taken(target: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, "the name is taken (never written over)", str(target))


def _link(source: Path, target: Path) -> bool:
    """Give `source` the name `target` too, never replacing a file; False where the file
    system has no hard links (or `source` is on another one)."""
    try:
        if os.name == "nt":
            os.rename(source, target)  # never replaces on Windows
        else:
            os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise _taken(target) from None
    except OSError as exc:
        if exc.errno in _NO_HARD_LINKS:
            return False
        raise
    return True


def _copy_into_place(source: Path, target: Path) -> None:
    """Copy to a hidden temporary name beside `target`, fsync, then give it its name: a copy
    that fails (a full disk) leaves nothing under the real name, nor a partial copy."""
    partial = target.with_name(f".{target.name[:200]}.{uuid.uuid4().hex[:8]}.partial")
    try:
        shutil.copy2(source, partial, follow_symlinks=False)
        if not partial.is_symlink():
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
        if _link(partial, target):
            partial.unlink()
        else:
            if os.path.lexists(target):
                raise _taken(target)
            os.rename(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def move_file(source: Path, target: Path) -> None:
    """Move durably and never over a file: a hard link then removing the old name on one
    file system, else a copy (see `_copy_into_place`), fsync, then removing the source.
    `FileExistsError` when `target` is taken (unless it is already this very file, as after
    a crash between the two steps); any other `OSError` leaves the source where it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        if not (os.path.lexists(source) and os.path.samefile(source, target)):
            raise _taken(target)
    elif not _link(source, target):
        _copy_into_place(source, target)
    if os.path.lexists(source):
        source.unlink()
    _fsync_dir(target.parent)
    if source.parent.exists():
        _fsync_dir(source.parent)


def copy_file(source: Path, target: Path) -> None:
    """Copy durably (the source stays where it is), never over a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        raise _taken(target)
    _copy_into_place(source, target)
    _fsync_dir(target.parent)


def write_note(path: Path, text: str) -> bool:
    """Create a small text file, never over another: False when the name is taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        return False
    return True


def disk_problem(exc: OSError, folder: Path) -> str:
    """What went wrong with a folder, in words an operator acts on (`archive/... is full`)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{folder} is full ({exc.strerror})"
    if exc.errno == errno.EROFS:
        return f"{folder} is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{folder} cannot be written ({exc.strerror})"
    return f"{folder}: {exc.strerror or exc}"
