"""A dropped file's bytes: its container (zip, gzip or none) and the format it is read in.

The one layer every other reads through: the general reader (`monitor.load.records`), the
backends that read a file themselves (`monitor.backends.rawfile`) and the hash
(`monitor.intake.hashing`) all open files here, so "what is inside this zip" has one answer.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1 << 18
CSV_MEMBER_SUFFIXES = (".csv", ".txt", ".tsv")
MEMBER_NAME_CHARS = 120
DAMAGED = (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile, NotImplementedError)


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




def compression_of(path: Path) -> str:
    """`zip`, `gzip` or `none`, from the file's first bytes (not its name)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK\x03\x04"):
        return "zip"
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    return "none"


def zip_members(path: Path) -> list[str]:
    """The CSV members of a zip archive, in archive order (folders and `__MACOSX/` skipped)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _csv_members(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceError(f"{path.name}: not a readable zip file: {exc}") from exc


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


def extract_member(path: Path, member: str, target: Path) -> None:
    """Write one zip member's bytes to `target` (via a temporary name, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as source, partial.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
    except (*DAMAGED, RuntimeError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise SourceError(f"{path.name}: member {member}: cannot be extracted: {exc}") from exc
    os.replace(partial, target)


@contextmanager
def open_binary(path: Path, name: str | None = None) -> Iterator[BinaryIO]:
    """Open the file's CSV content as a binary stream, decompressing zip and gzip."""
    name = name or path.name
    kind = compression_of(path)
    if kind == "zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(f"{name}: not a readable zip file: {exc}") from exc
        with archive:
            try:
                member = archive.open(_zip_member(archive, name))
            except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:  # encrypted, unknown method
                raise SourceError(f"{name}: the zip member cannot be read: {exc}") from exc
            with member:
                yield member  # type: ignore[misc]  # zipfile's ZipExtFile is a binary stream
    elif kind == "gzip":
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with path.open("rb") as stream:
            yield stream


def read_chunk(stream: BinaryIO, size: int, name: str) -> bytes:
    try:
        return stream.read(size)
    except DAMAGED as exc:
        raise SourceError(f"{name}: damaged compressed data: {exc}") from exc


