"""Reading dropped files: decompression, encoding and delimiter detection, streaming records.

Records are parsed as RFC 4180 (quoted delimiters, doubled quotes, line breaks
inside quotes, CRLF / LF / CR line ends, a missing final newline, blank lines),
leniently (a stray quote inside an unquoted field is kept as text). Every record
keeps its physical line number, and a rejected record keeps its raw text exactly
as it was in the file: the decoded lines are held per chunk and the record's
lines are joined back, never re-serialised.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

SAMPLE_BYTES = 1 << 20
CHUNK_BYTES = 1 << 18
DELIMITERS = (",", ";", "\t", "|")
CSV_MEMBER_SUFFIXES = (".csv", ".txt", ".tsv")
MEMBER_NAME_CHARS = 120
CONTROL_SHARE = 0.01  # more control characters than this in the sample: binary, not text
csv.field_size_limit(1 << 26)

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (or another OLE document)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f]")  # not \x1a: the DOS end-of-file mark
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f]")
_DAMAGED = (EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile, NotImplementedError)


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


# -- containers ---------------------------------------------------------------------------
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
    except (*_DAMAGED, RuntimeError, OSError) as exc:
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
                yield member
    elif kind == "gzip":
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with path.open("rb") as stream:
            yield stream


def _read(stream: BinaryIO, size: int, name: str) -> bytes:
    try:
        return stream.read(size)
    except _DAMAGED as exc:
        raise SourceError(f"{name}: damaged compressed data: {exc}") from exc


# -- detection ----------------------------------------------------------------------------
def _bomless_utf16(sample: bytes) -> str | None:
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
        return "utf-16-be"
    return None


def detect_encoding(sample: bytes, configured: str = "auto") -> str:
    """The codec to read with: a byte-order mark wins, then the configured one,
    then UTF-16 without a BOM (every other byte NUL), then UTF-8 when the sample
    decodes as UTF-8, else Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if configured != "auto":
        return configured
    wide = _bomless_utf16(sample)
    if wide:
        return wide
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not merely a character cut by the sample's end
            return "cp1252"
    return "utf-8"


def detect_delimiter(text: str, records: int = 20) -> str:
    """The delimiter of a CSV text (its header first): among `,` `;` tab `|` found in the
    header outside quotes, the one that occurs as often in each of the next records (up
    to `records`), then the most frequent; `,` when the header holds none of them."""
    found: list[dict[str, int]] = []
    counts, quoted, length = dict.fromkeys(DELIMITERS, 0), False, 0
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            if length:
                found.append(counts)
                if len(found) > records:
                    break
            counts, length = dict.fromkeys(DELIMITERS, 0), 0
            continue
        elif not quoted and char in counts:
            counts[char] += 1
        length += 1
    if length and len(found) <= records:
        found.append(counts)
    if not found:
        return ","
    header, rows = found[0], found[1:]
    candidates = [d for d in DELIMITERS if header[d]]
    if not candidates:
        return ","
    return max(candidates, key=lambda d: (all(row[d] == header[d] for row in rows), header[d]))


def _wide(codec: str) -> bool:
    return codecs.lookup(codec).name.startswith(("utf-16", "utf-32"))


def _binary_kind(sample: bytes | str) -> str | None:
    """What a sample is if it is not text: a known binary format, NULs, or too many
    control characters (bytes for byte codecs, decoded text for UTF-16/32)."""
    if isinstance(sample, bytes):
        for magic, kind in _MAGIC:
            if sample.startswith(magic):
                return kind
        if b"\x00" in sample:
            return "binary content (NUL bytes)"
        controls = len(_CONTROL_BYTES.findall(sample))
    else:
        controls = len(_CONTROL.findall(sample))
    if controls > max(CONTROL_SHARE * len(sample), 3):
        return "binary content (control characters)"
    return None


def sniff(path: Path, *, encoding: str = "auto", delimiter: str | None = None, name: str | None = None) -> SourceFormat:
    """Work out how to read `path` from its first megabyte; `name` is the file's name in messages."""
    name = name or path.name
    kind = compression_of(path)
    with open_binary(path, name) as stream:
        sample = _read(stream, SAMPLE_BYTES, name)
        member = getattr(stream, "name", None) if kind == "zip" else None
    if not sample.strip(b"\r\n\t \x00"):
        raise SourceError(f"{name}: the file is empty (no header line)")
    codec = detect_encoding(sample, encoding)
    try:
        wide = _wide(codec)
    except LookupError as exc:
        raise SourceError(f"{name}: unknown encoding {codec!r}") from exc
    binary = None if wide else _binary_kind(sample)
    if binary:
        raise SourceError(f"{name}: {binary}, not a CSV file")
    try:
        head = sample.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or len(sample) < SAMPLE_BYTES:
            raise EncodingError(
                f"{name}: line {_line_of(sample[: exc.start], codec)}, byte offset {exc.start}: not valid {codec} "
                f"(bytes {sample[exc.start : exc.end].hex(' ')}): {exc.reason}"
            ) from exc
        head = sample[: exc.start].decode(codec)
    head = head.lstrip("\ufeff")
    binary = _binary_kind(head) if wide else None
    if binary:
        raise SourceError(f"{name}: {binary}, not a CSV file")
    lines = io.StringIO(head, newline="").readlines()
    skip = 0
    first = lines[0].rstrip("\r\n") if lines else ""
    if first.lower().startswith("sep=") and len(first) == 5:  # Excel's delimiter hint line
        delimiter, skip = delimiter or first[4], 1
    sep = delimiter or detect_delimiter("".join(lines[skip : skip + 200]))
    header = next(csv.reader(lines[skip:], delimiter=sep), [])
    while header and not header[-1].strip():  # spreadsheet exports pad the header with empty names
        header.pop()
    if not header:
        raise SourceError(f"{name}: line {skip + 1}: the header is empty")
    detected = encoding == "auto" and codec in ("utf-8", "cp1252", "utf-16-le", "utf-16-be")
    return SourceFormat(kind, member, codec, sep, header, skip, detected)


def _line_of(before: bytes, codec: str) -> int:
    text = before.decode(codec, errors="replace")
    return 1 + text.count("\n") + text.count("\r") - text.count("\r\n")


# -- records ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reject:
    """A record that cannot be loaded, kept with where and why."""

    line: int
    column: str | None
    reason: str
    raw: str


@dataclass
class Batch:
    """Up to `batch_rows` loadable rows, and the records rejected on the way. With
    `keep_raw`, `lines` and `raws` hold each row's line number and raw text."""

    rows: list[list[str]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)


class RowError(ValueError):
    """A record of the right width that still cannot be loaded (a value, an empty key)."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


RowShaper = Callable[[list[str]], list[str]]


_OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _split_lines(text: str) -> list[str]:
    """Lines ending in CR, LF or CRLF (kept); other Unicode line breaks stay inside lines."""
    if any(mark in text for mark in _OTHER_BREAKS):
        return io.StringIO(text, newline="").readlines()
    return text.splitlines(keepends=True)  # the same split when no other break occurs, faster


class _Lines:
    """The file's decoded lines (terminators kept), numbered from 1, streamed by chunk.

    Chunks are held from the line `keep_from` on, so the raw text of the record
    being parsed (and the one before it) can be joined back.
    """

    def __init__(self, stream: BinaryIO, encoding: str, name: str) -> None:
        self.stream, self.encoding, self.name = stream, encoding, name
        self.keep_from = 1
        self.nul = False  # a NUL character was seen: records are checked for it
        self._held: list[tuple[int, list[str]]] = []
        self._next = 1

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._chunks())

    def _chunks(self) -> Iterator[list[str]]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        consumed, carry = 0, ""
        while True:
            chunk = _read(self.stream, CHUNK_BYTES, self.name)
            final = not chunk
            pending = decoder.getstate()[0]
            try:
                text = carry + decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                raise self._invalid(exc, pending + chunk, consumed - len(pending), carry) from exc
            consumed += len(chunk)
            lines = _split_lines(text)
            self.nul = self.nul or "\x00" in text
            chunk, text, carry = b"", "", ""  # only the lines stay alive
            if not final and lines and (lines[-1].endswith("\r") or not lines[-1].endswith("\n")):
                carry = lines.pop()  # an unfinished line, or a CR whose LF may follow
            if lines:
                while self._held and self._held[0][0] + len(self._held[0][1]) <= self.keep_from:
                    self._held.pop(0)
                self._held.append((self._next, lines))
                self._next += len(lines)
                yield lines
            if final:
                return

    def _invalid(self, exc: UnicodeDecodeError, data: bytes, base: int, carry: str) -> SourceError:
        before = carry + data[: exc.start].decode(self.encoding, errors="replace")
        line = self._next + before.count("\n") + before.count("\r") - before.count("\r\n")
        bad = data[exc.start : exc.end].hex(" ")
        return EncodingError(
            f"{self.name}: line {line}, byte offset {base + exc.start}: not valid {self.encoding} "
            f"(bytes {bad}): {exc.reason}"
        )

    def raw(self, first: int, last: int) -> str:
        """Lines `first`..`last` joined as in the file, without the final line end."""
        parts: list[str] = []
        for base, lines in self._held:
            low, high = max(first, base), min(last, base + len(lines) - 1)
            if low <= high:
                parts.extend(lines[low - base : high - base + 1])
        text = "".join(parts)
        if text.endswith("\r\n"):
            return text[:-2]
        return text[:-1] if text.endswith(("\n", "\r")) else text


def _unterminated(raw: str, delimiter: str) -> bool:
    try:
        for _ in csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def iter_batches(
    path: Path,
    fmt: SourceFormat,
    batch_rows: int,
    *,
    shape: RowShaper | None = None,
    keep_raw: bool = False,
    name: str | None = None,
) -> Iterator[Batch]:
    """Stream the data records (header skipped) in batches of rows as wide as the header.

    Blank records (no line, or every field empty) are skipped; trailing empty
    fields beyond the header are dropped; any other record of the wrong width is
    rejected with its line number and raw text. `shape` (see `monitor.types`)
    turns a record into the row to load or raises `RowError` to reject it.
    """
    name = name or path.name
    width = len(fmt.header)
    with open_binary(path, name) as stream:
        source = _Lines(stream, fmt.encoding, name)
        reader = csv.reader(source, delimiter=fmt.delimiter, strict=False)
        batch = Batch()
        rows = batch.rows
        plain = shape is None and not keep_raw  # the hot path: records load as read
        start = last_start = 1
        loaded_last = full = False
        try:
            for _ in range(fmt.skip + 1):
                next(reader, None)
            start = reader.line_num + 1
            for fields in reader:
                end = reader.line_num
                if full or len(rows) >= batch_rows:
                    yield batch
                    batch = Batch()
                    rows, full = batch.rows, False
                source.keep_from = last_start
                last_start = start
                if plain and len(fields) == width and not source.nul and any(fields):
                    rows.append(fields)
                    loaded_last = True
                else:
                    loaded_last = False
                    if len(fields) != width:
                        fields = _misfit(fields, width, start, end, source, batch)
                    if fields is not None and any(fields):
                        loaded_last = _take(fields, shape, start, end, source, batch, keep_raw)
                    full = len(batch.rejects) >= batch_rows  # memory stays bounded in a file of rejects
                start = end + 1
        except csv.Error as exc:
            raise SourceError(f"{name}: line {start}: {exc}") from exc
        if last_start < start:
            _check_last(source, fmt.delimiter, last_start, start - 1, loaded_last, batch)
        if batch.rows or batch.rejects:
            yield batch


def _misfit(fields: list[str], width: int, first: int, last: int, source: _Lines, batch: Batch) -> list[str] | None:
    if not fields or fields == ["\x1a"]:  # a blank line, or the DOS end-of-file mark
        return None
    if len(fields) > width and not any(fields[width:]):
        return fields[:width]
    reason = f"expected {width} fields, found {len(fields)}"
    batch.rejects.append(Reject(first, None, reason, source.raw(first, last)))
    return None


def _take(
    fields: list[str], shape: RowShaper | None, first: int, last: int, source: _Lines, batch: Batch, keep_raw: bool
) -> bool:
    """Shape and keep one record (True), or reject it with its raw text (False)."""
    if source.nul and any("\x00" in value for value in fields):
        reason = "a field holds a NUL character (no database stores it in text)"
        batch.rejects.append(Reject(first, None, reason, source.raw(first, last)))
        return False
    if shape is not None:
        try:
            fields = shape(fields)
        except RowError as err:
            batch.rejects.append(Reject(first, err.column, err.reason, source.raw(first, last)))
            return False
    batch.rows.append(fields)
    if keep_raw:
        batch.lines.append(first)
        batch.raws.append(source.raw(first, last))
    return True


def _check_last(source: _Lines, delimiter: str, first: int, last: int, loaded: bool, batch: Batch) -> None:
    """A quote never closed swallows the rest of the file into the last record: reject it."""
    raw = source.raw(first, last)
    if '"' not in raw or not _unterminated(raw, delimiter):
        return
    reason = f"unterminated quoted field: a quote opened on or after line {first} is never closed"
    if loaded:
        batch.rows.pop()
        if batch.lines:
            batch.lines.pop()
            batch.raws.pop()
    elif batch.rejects and batch.rejects[-1].line == first:
        batch.rejects.pop()
    else:
        return
    batch.rejects.append(Reject(first, None, reason, raw))


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
