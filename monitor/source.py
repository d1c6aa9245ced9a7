"""A dropped file's bytes: its container (zip, gzip or none) and the format it is read in.

The one layer every other reads through: the general reader (`monitor.load.read.records`), the
backends that read a file themselves (`monitor.backends.rawfile`) and the hash
(`monitor.intake.hashing`) all open files here, so "what is inside this zip" has one answer.
What compressed content expands to is bounded here too (`Limits`: in all, and against its
compressed size), counted while it streams, on every path that decompresses.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, cast

from monitor.config import Limits

CHUNK_BYTES = 1 << 18
CSV_MEMBER_SUFFIXES = (".csv", ".txt", ".tsv")
MEMBER_NAME_CHARS = 120
DAMAGED = (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile, NotImplementedError)
RATIO_FLOOR_BYTES = 1 << 20  # content this small is never refused for its expansion ratio
DEFAULT_LIMITS = Limits()
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"


class SourceError(Exception):
    """The file cannot be read as CSV; the message says where and why."""


class EncodingError(SourceError):
    """A byte sequence that is not valid in the file's encoding (the message names where)."""


@dataclass(frozen=True)
class SourceFormat:
    """How to read one file: its compression, encoding, delimiter and header.

    `skip` counts lines before the header (an Excel `sep=;` line); `detected` is
    True when the encoding was guessed from the sample rather than configured or
    given by a byte-order mark.
    """

    compression: str
    member: str | None
    encoding: str
    delimiter: str
    header: list[str]
    skip: int = 0
    detected: bool = False
    limits: Limits = field(default=DEFAULT_LIMITS, compare=False)




def compression_of(path: Path) -> str:
    """`zip`, `gzip` or `none`, from the file's first bytes (not its name)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK\x03\x04"):
        return "zip"
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    return "none"


def size_text(size: float) -> str:
    """A byte count as people read it: `512 bytes`, `1.5 MiB`, `32 GiB`."""
    if size < 1024:
        return f"{int(size)} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            return f"{size:.3g} {unit}" if size < 100 else f"{size:.0f} {unit}"
    raise AssertionError("unreachable")


class ExpansionBudget:
    """What one compressed file may expand to: `max_expanded_bytes` in all (across the
    members of a zip, `spent` counting those already expanded) and `max_expansion_ratio`
    times its compressed size (past the first MiB, which is never refused)."""

    def __init__(self, name: str, compressed: int, limits: Limits, spent: int = 0) -> None:
        self.name, self.compressed, self.limits = name, compressed, limits
        self.total_left = limits.max_expanded_bytes - spent
        self.by_ratio = max(int(limits.max_expansion_ratio * compressed), RATIO_FLOOR_BYTES)
        self.read = 0

    def take(self, count: int) -> None:
        """Count `count` more expanded bytes; `SourceError` as soon as a limit is passed."""
        self.read += count
        if self.read > self.total_left:
            raise SourceError(
                f"{self.name}: expands to more than {size_text(self.limits.max_expanded_bytes)} "
                f"(limits.max_expanded_bytes): not loaded")
        if self.read > self.by_ratio:
            raise SourceError(
                f"{self.name}: expands to more than {self.limits.max_expansion_ratio:g} times its compressed "
                f"size ({size_text(self.compressed)} compressed, {size_text(self.read)} read so far; "
                f"limits.max_expansion_ratio): not loaded (a compression bomb?)")


class BoundedStream(io.BufferedIOBase):
    """A decompressing stream that counts what it hands out against an `ExpansionBudget`."""

    def __init__(self, inner: IO[bytes] | gzip.GzipFile, budget: ExpansionBudget) -> None:
        super().__init__()
        self._inner, self.budget = inner, budget
        self.name = getattr(inner, "name", None)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK_BYTES), b""))
        data = self._inner.read(size)
        self.budget.take(len(data))
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size if size >= 0 else CHUNK_BYTES)


def zip_entries(path: Path) -> int | None:
    """The number of entries a zip's end-of-directory record declares (None when it has
    none), read from the file's last 64 KiB without parsing the directory itself."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        tail_at = max(0, size - (1 << 16) - 22)
        handle.seek(tail_at)
        tail = handle.read()
        at = tail.rfind(_END_OF_DIRECTORY)
        if at < 0 or len(tail) < at + 22:
            return None
        entries = struct.unpack_from("<H", tail, at + 10)[0]
        locator = at - 20
        if entries == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
            handle.seek(struct.unpack_from("<Q", tail, locator + 8)[0] + 32)
            found = handle.read(8)
            return struct.unpack("<Q", found)[0] if len(found) == 8 else None
    return int(entries)


def open_zip(path: Path, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> zipfile.ZipFile:
    """A zip archive, refused (`SourceError`) when unreadable or when its directory declares
    more entries than `limits.max_zip_members` (each parsed entry costs memory)."""
    name = name or path.name
    try:
        entries = zip_entries(path)
        if entries is not None and entries > limits.max_zip_members:
            raise SourceError(f"{name}: the zip holds {entries:,} entries, more than {limits.max_zip_members:,} "
                              "(limits.max_zip_members): not loaded")
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, struct.error) as exc:
        raise SourceError(f"{name}: not a readable zip file: {exc}") from exc


def zip_members(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The CSV members of a zip archive, in archive order (folders and `__MACOSX/` skipped)."""
    with open_zip(path, limits=limits) as archive:
        return _csv_members(archive)


def _csv_members(archive: zipfile.ZipFile) -> list[str]:
    return [
        info.filename
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and info.filename.lower().endswith(CSV_MEMBER_SUFFIXES)
    ]


def _zip_member(archive: zipfile.ZipFile, name: str) -> str:
    members = _csv_members(archive)
    if len(members) == 1:
        return members[0]
    if not members and "[Content_Types].xml" in archive.namelist():
        raise SourceError(f"{name}: an Office document (e.g. .xlsx), not CSV: save it as CSV")
    raise SourceError(f"{name}: the zip holds {len(members)} CSV files, expected one")


def member_file_name(archive_name: str, member: str) -> str:
    """The name a zip member is loaded under: `archive.zip!member.csv` (no folders, so a
    member named `../x.csv` cannot leave the folder it is extracted to)."""
    parts = [part for part in member.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    flat = "_".join(parts) or "member"
    if len(flat) > MEMBER_NAME_CHARS:  # keep file names within what file systems allow
        flat = f"{flat[: MEMBER_NAME_CHARS - 9]}~{hashlib.sha256(member.encode()).hexdigest()[:8]}"
    return f"{archive_name}!{flat}"


def _member_budget(archive: zipfile.ZipFile, path: Path, member: str, limits: Limits, spent: int) -> ExpansionBudget:
    compressed = min(archive.getinfo(member).compress_size, path.stat().st_size)
    return ExpansionBudget(f"{path.name}: member {member}", compressed, limits, spent)


def extract_members(path: Path, members: list[tuple[str, Path]], limits: Limits = DEFAULT_LIMITS) -> None:
    """Write each zip member's bytes to its target (through a hidden temporary name, then
    renamed), within `limits` in all; `SourceError` names the member and why (damaged,
    over a limit, the disk full), and leaves no partial file behind."""
    spent = 0
    with open_zip(path, limits=limits) as archive:
        for member, target in members:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name[:200]}.partial")
            try:
                budget = _member_budget(archive, path, member, limits, spent)
                with archive.open(member) as source, partial.open("wb") as out:
                    while chunk := source.read(CHUNK_BYTES):
                        budget.take(len(chunk))
                        out.write(chunk)
            except SourceError:
                partial.unlink(missing_ok=True)
                raise
            except (*DAMAGED, RuntimeError, OSError) as exc:
                partial.unlink(missing_ok=True)
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise SourceError(
                    f"{path.name}: member {member}: cannot be extracted to {target.parent}: {why}") from exc
            spent += budget.read
            os.replace(partial, target)


@contextmanager
def open_binary(path: Path, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Iterator[BinaryIO]:
    """Open the file's CSV content as a binary stream, decompressing zip and gzip within
    `limits` (`SourceError` once the content expands past them)."""
    name = name or path.name
    kind = compression_of(path)
    if kind == "zip":
        with open_zip(path, name, limits) as archive:
            member_name = _zip_member(archive, name)
            try:
                member = archive.open(member_name)
            except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:  # encrypted, unknown method
                raise SourceError(f"{name}: the zip member cannot be read: {exc}") from exc
            with member:
                compressed = min(archive.getinfo(member_name).compress_size, path.stat().st_size)
                yield cast(BinaryIO, BoundedStream(member, ExpansionBudget(name, compressed, limits)))
    elif kind == "gzip":
        with gzip.open(path, "rb") as stream:
            yield cast(BinaryIO, BoundedStream(stream, ExpansionBudget(name, path.stat().st_size, limits)))
    else:
        with path.open("rb") as stream:
            yield stream


def read_chunk(stream: BinaryIO, size: int, name: str) -> bytes:
    """Up to `size` bytes; damaged compressed data is a `SourceError` naming the file."""
    try:
        return stream.read(size)
    except DAMAGED as exc:
        raise SourceError(f"{name}: damaged compressed data: {exc}") from exc
