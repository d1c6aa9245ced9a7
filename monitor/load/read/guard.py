"""Notices a file that changed or vanished between its hash and its commit."""

from __future__ import annotations

from pathlib import Path

from monitor.source import SourceError


class FileGuard:
    """Notices a file that changed or vanished between its hash and its commit.

    Created before reading (the size must match the hashed size, and the size and
    mtime those seen when hashing, if known); `check()` before the commit raises if
    the file is gone or its size, mtime or inode moved while it was read.
    """

    def __init__(self, path: Path, name: str, size: int, hashed: tuple[int, int] | None = None) -> None:
        self.path, self.name = path, name
        try:
            info = path.stat()
        except FileNotFoundError as exc:
            raise SourceError(f"{name}: the file vanished before it was read") from exc
        if info.st_size != size or (hashed is not None and (info.st_size, info.st_mtime_ns) != hashed):
            raise SourceError(
                f"{name}: the file changed after it was hashed (hashed {size} bytes, now {info.st_size} bytes, "
                "or a newer modification time): not loaded; drop it again once it is complete"
            )
        self.seen = (info.st_size, info.st_mtime_ns, info.st_ino)

    def check(self) -> None:
        """Raise `SourceError` if the file vanished or changed since the guard was made."""
        try:
            info = self.path.stat()
        except FileNotFoundError as exc:
            raise SourceError(f"{self.name}: the file vanished while it was being read: not loaded") from exc
        if (info.st_size, info.st_mtime_ns, info.st_ino) != self.seen:
            raise SourceError(
                f"{self.name}: the file changed while it was being read: not loaded; drop it again once it is complete"
            )
