"""Content hashing: SHA-256 of the bytes as dropped, streamed in bounded memory.

The file is read into one reused buffer (no new bytes object per chunk); OpenSSL's
SHA-256 then runs at about 1.5 GB/s here, a few per cent of a load's time, so the
hash is taken before the load (a duplicate is known before any row moves).

The `ingest` command knows its files before it has even imported its modules, so it
hashes them ahead (`hash_ahead`), in a thread, while Python starts: the digest releases
the GIL, so the hash costs the load no time. `stable_sha256` takes such a digest only
for the same file, unchanged since (size, modification and change times).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from stat import S_ISREG

from monitor.source import compression_of

CHUNK_BYTES = 1 << 20
AHEAD_CHUNK_BYTES = 16 << 20  # fewer chunks, fewer waits for the GIL while the imports hold it
STABLE_TRIES = 3

FileKey = tuple[int, int]  # (device, inode)
Version = tuple[int, int, int]  # (size, mtime_ns, ctime_ns)


def sha256_of(path: Path, chunk_bytes: int = CHUNK_BYTES) -> tuple[str, int]:
    """The file's SHA-256 (hex) and its size in bytes, read in chunks of `chunk_bytes`."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    size = 0
    with path.open("rb", buffering=0) as handle:
        while read := handle.readinto(buffer):
            digest.update(view[:read])
            size += read
    return digest.hexdigest(), size


def _key(stat: os.stat_result) -> FileKey:
    return stat.st_dev, stat.st_ino


def _version(stat: os.stat_result) -> Version:
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


class _Ahead:
    """A digest being taken ahead: set once, with the version of the file it was taken of
    (None when the file changed under the hash or could not be read)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: tuple[Version, str, int] | None = None


_ahead: dict[FileKey, _Ahead] = {}
_ahead_lock = threading.Lock()


def hash_ahead(paths: Iterable[Path]) -> None:
    """Start hashing the regular files among `paths`, in order, in a background thread
    (not zip files: their members are what is loaded)."""
    planned: list[tuple[Path, _Ahead]] = []
    for path in paths:
        try:
            stat = path.stat()
            if not S_ISREG(stat.st_mode):
                continue
            zipped = compression_of(path) == "zip"
        except OSError:
            continue
        with _ahead_lock:
            if not zipped and _key(stat) not in _ahead:
                planned.append((path, _ahead.setdefault(_key(stat), _Ahead())))
    if planned:
        threading.Thread(target=_hash_planned, args=(planned,), name="hash-ahead", daemon=True).start()


def _hash_planned(planned: list[tuple[Path, _Ahead]]) -> None:
    for path, ahead in planned:
        try:
            before = _version(path.stat())
            sha256, size = sha256_of(path, AHEAD_CHUNK_BYTES)
            if _version(path.stat()) == before and size == before[0]:
                ahead.result = (before, sha256, size)
        except OSError:
            pass
        finally:
            ahead.done.set()


def _taken_ahead(stat: os.stat_result) -> tuple[str, int] | None:
    """The digest taken ahead of this very file in this very version, waiting for it if it
    is being taken; None when there is none."""
    with _ahead_lock:
        ahead = _ahead.pop(_key(stat), None)
    if ahead is None:
        return None
    ahead.done.wait()
    if ahead.result is None or ahead.result[0] != _version(stat):
        return None
    return ahead.result[1], ahead.result[2]


def stable_sha256(path: Path) -> tuple[str, int, tuple[int, int] | None]:
    """SHA-256 and size, hashed again while the file changes under the hash (up to 3
    times); also (size, mtime) as hashed, which the load checks before it commits (None
    when the file never held still)."""
    for _ in range(STABLE_TRIES):
        before = path.stat()
        sha256, size = _taken_ahead(before) or sha256_of(path)
        after = path.stat()
        stat = (after.st_size, after.st_mtime_ns)
        if (before.st_size, before.st_mtime_ns) == stat and size == after.st_size:
            return sha256, size, stat
    return sha256, size, None
