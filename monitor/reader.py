"""Reading dropped files: decompression, encoding and delimiter detection, streaming records."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
CSV_MEMBER_SUFFIXES = (".csv", ".txt", ".tsv")
csv.field_size_limit(1 << 26)


class SourceError(Exception):
    """The file cannot be read as CSV; the message says where and why."""


@dataclass(frozen=True)
class SourceFormat:
    """How to read one file: its compression, encoding, delimiter and header."""

    compression: str
    member: str | None
    encoding: str
    delimiter: str
    header: list[str]


def _zip_member(archive: zipfile.ZipFile, path: Path) -> str:
    members = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and info.filename.lower().endswith(CSV_MEMBER_SUFFIXES)
    ]
    if len(members) != 1:
        raise SourceError(f"{path.name}: the zip holds {len(members)} CSV files, expected one")
    return members[0]


def compression_of(path: Path) -> str:
    """`zip`, `gzip` or `none`, from the file's first bytes (not its name)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK\x03\x04"):
        return "zip"
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    return "none"


@contextmanager
def open_binary(path: Path) -> Iterator[BinaryIO]:
    """Open the file's CSV content as a binary stream, decompressing zip and gzip."""
    kind = compression_of(path)
    if kind == "zip":
        try:
            with zipfile.ZipFile(path) as archive, archive.open(_zip_member(archive, path)) as member:
                yield member
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{path.name}: not a readable zip file: {exc}") from exc
    elif kind == "gzip":
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with path.open("rb") as stream:
            yield stream


def detect_encoding(sample: bytes, configured: str = "auto") -> str:
    """The codec to read with: a byte-order mark wins, then the configured one,
    then UTF-8 when the sample decodes as UTF-8, else Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if configured != "auto":
        return configured
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not merely a character cut by the sample's end
            return "cp1252"
    return "utf-8"


def detect_delimiter(first_line: str) -> str:
    """The candidate delimiter that occurs most often outside quotes in the header."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _text(stream: BinaryIO, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")


def sniff(path: Path, *, encoding: str = "auto", delimiter: str | None = None) -> SourceFormat:
    """Work out how to read `path` from its first megabyte."""
    kind = compression_of(path)
    with open_binary(path) as stream:
        sample = stream.read(SAMPLE_BYTES)
        member = getattr(stream, "name", None) if kind == "zip" else None
    if not sample.strip(b"\r\n\t \x00"):
        raise SourceError(f"{path.name}: the file is empty (no header line)")
    if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError(f"{path.name}: binary content (NUL bytes), not a CSV file")
    codec = detect_encoding(sample, encoding)
    try:
        head = sample.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:
            raise SourceError(
                f"{path.name}: byte offset {exc.start}: not valid {codec}: {exc.reason}"
            ) from exc
        head = sample[: exc.start].decode(codec)
    except LookupError as exc:
        raise SourceError(f"{path.name}: unknown encoding {codec!r}") from exc
    first_line = head.lstrip("\ufeff").splitlines()[0] if head.strip() else ""
    sep = delimiter or detect_delimiter(first_line)
    header = next(csv.reader(io.StringIO(head.lstrip("\ufeff")), delimiter=sep), [])
    if not any(name.strip() for name in header):
        raise SourceError(f"{path.name}: line 1: the header is empty")
    return SourceFormat(kind, member, codec, sep, header)


@dataclass(frozen=True)
class Reject:
    """A record that cannot be loaded, kept with where and why."""

    line: int
    column: str | None
    reason: str
    raw: str


@dataclass
class Batch:
    """Up to `batch_rows` loadable rows, and the records rejected on the way."""

    rows: list[list[str]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def _raw_text(fields: list[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(fields)
    return buffer.getvalue()


def iter_batches(path: Path, fmt: SourceFormat, batch_rows: int) -> Iterator[Batch]:
    """Stream the data records (header skipped) in batches of rows as wide as the header.

    Blank lines are skipped; trailing empty fields beyond the header are dropped;
    any other record of the wrong width is rejected with its line number.
    """
    width = len(fmt.header)
    with open_binary(path) as stream:
        reader = csv.reader(_text(stream, fmt.encoding), delimiter=fmt.delimiter, strict=False)
        batch = Batch()
        rows = batch.rows
        line = 1
        try:
            next(reader, None)
            line = reader.line_num + 1
            for fields in reader:
                if len(fields) == width:
                    rows.append(fields)
                elif fields:
                    _misfit(fields, width, line, fmt.delimiter, batch)
                if len(rows) >= batch_rows:
                    yield batch
                    batch = Batch()
                    rows = batch.rows
                line = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{path.name}: line {line}: not valid {fmt.encoding}: {exc.reason}"
            ) from exc
        except csv.Error as exc:
            raise SourceError(f"{path.name}: line {line}: {exc}") from exc
        if rows or batch.rejects:
            yield batch


def _misfit(fields: list[str], width: int, line: int, delimiter: str, batch: Batch) -> None:
    if len(fields) > width and not any(fields[width:]):
        batch.rows.append(fields[:width])
        return
    reason = f"expected {width} fields, found {len(fields)}"
    batch.rejects.append(Reject(line, None, reason, _raw_text(fields, delimiter)))
