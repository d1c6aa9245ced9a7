"""Reading a file's records with less Python work per value than the general reader, for a
backend that reads files itself, with proof that it reads exactly what the reader would.

The general reader (`monitor.load.read.records`) parses every record with the `csv` module,
keeps line numbers and raw text for rejects. Most files need none of that: every record is
as wide as the header. Blocks of records are proven at C speed (`proof`, `blocks`); line by
line, a line is taken as it is only when its fields are certain without a CSV parser: no
quote at all, or every field quoted with no quote inside (`"a","b,c",""`). Any other record
is parsed by the `csv` module (strict, so a malformed one stops the fast
path). Blank records are skipped as the reader skips them. A record of the wrong width, a
decoding error or a malformed quote raises `NotSimple`: the backend rolls back what it wrote
and the general reader takes the file, which rejects what must be rejected. So does a line
or record longer than `limits.max_record_chars`, before it is held whole (lines are read at
most that long, blocks carry at most that much): the general reader then fails the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from itertools import chain
from operator import length_hint
from typing import BinaryIO

from monitor.backends.target import RawFile
from monitor.source import open_binary

QUOTE = '"'
BLOCK_CHARS = 1 << 20  # text read (and handed on) per block


class NotSimple(Exception):
    """The file needs the general reader (a record of another width, a malformed quote, bad bytes)."""


def too_long(limit: int) -> NotSimple:
    """A line or record longer than `limits.max_record_chars`, or a record over more than a
    64th as many lines (the general reader says where)."""
    return NotSimple(f"a line or record longer than {limit:,} characters, or over more than {limit // 64:,} lines")


class Scan:
    """Decoded lines after the header, and what a simple line looks like for this file."""

    def __init__(self, source: RawFile, stream: io.TextIOWrapper, binary: BinaryIO | None = None) -> None:
        fmt = source.fmt
        self.stream = stream
        self.raw: BinaryIO | None = None  # after the header, the file read as bytes (`_read_bytes_from_here`)
        self.codec = codecs.lookup(fmt.encoding).name.removesuffix("-sig")  # the mark is in the header
        self.width = width = source.width
        self.delimiter = fmt.delimiter
        self.separator = QUOTE + fmt.delimiter + QUOTE
        self.limit = fmt.limits.max_record_chars
        self.line_limit = self.limit + 1  # a line's text and `\n`: a longer line is looked at (`too_long_line`)
        self.file_lines: Iterator[str] = iter(partial(stream.readline, self.limit + 3), "")  # read this far at most
        self.lines: Iterator[str] = self.file_lines
        self.pending: Iterator[str] = iter(())
        header = csv.reader(self.lines, delimiter=fmt.delimiter, strict=False)
        for _ in range(fmt.skip + 1):  # an Excel `sep=` line, then the header
            next(header, None)
        self.empty_plain = fmt.delimiter * (width - 1)
        self.empty_quoted = QUOTE + self.separator.join([""] * width) + QUOTE
        if binary is not None and self.codec in BYTE_CODECS:
            self._read_bytes_from_here(binary)

    def _read_bytes_from_here(self, binary: BinaryIO) -> None:
        """Read the rest of a seekable UTF-8 (or ASCII) file as bytes: no decoding to hand its
        blocks on as they are (`read`, `check`), lines decoded one by one for a detour."""
        try:
            if not binary.seekable():
                return
            binary.seek(self.stream.tell())
        except (OSError, ValueError):
            return
        self.raw = binary
        self.file_lines = self.lines = _byte_lines(binary, self.limit, self.codec)

    def read(self, size: int) -> str | bytes:
        """Up to `size` characters (or bytes, when read as bytes) of the file."""
        return self.raw.read(size) if self.raw is not None else self.stream.read(size)

    def check(self, data: str | bytes) -> str:
        """`data` (whole lines) as text: bytes are decoded (strictly: a bad byte is `NotSimple`)."""
        return data.decode(self.codec) if isinstance(data, bytes) else data

    def record(self, line: str) -> list[str] | None:
        """The record starting with `line` (going on over the next lines if a quoted field
        does), parsed by the `csv` module (strict), with empty fields beyond the header's
        width dropped; None for a blank record; `NotSimple` for a malformed record, one of
        another width or one longer than the limit."""
        reader = csv.reader(self._within_limit(chain([line], self.lines)), delimiter=self.delimiter, strict=True)
        try:
            fields = next(reader, [])
        except csv.Error as exc:
            raise NotSimple(f"a malformed record: {exc}") from exc
        if not any(fields):
            return None
        if len(fields) > self.width and not any(fields[self.width :]):
            del fields[self.width :]
        if len(fields) != self.width:
            raise NotSimple(f"a record has {len(fields)} fields, the header {self.width}")
        return fields

    def too_long_line(self, line: str) -> bool:
        """Whether a line read from `lines` longer than `line_limit` is over the limit (its
        text, without the line end)."""
        return len(line.rstrip("\r\n")) > self.limit

    def _within_limit(self, lines: Iterable[str]) -> Iterator[str]:
        total, most = 0, self.limit // 64
        for count, line in enumerate(lines, start=1):
            total += len(line)
            if total > self.limit or count > most:
                raise too_long(self.limit)
            yield line

    def whole_line(self, text: str) -> bool:
        """Whether `text` (a line without its end) is, as it stands, one record of the header's
        width that is not blank: no quote and `width - 1` delimiters, or every field quoted
        with no quote inside (its inner quotes all in the `width - 1` separators)."""
        width = self.width
        if QUOTE not in text:
            return text.count(self.delimiter) == width - 1 and text != self.empty_plain
        inner = text[1:-1]
        return (
            len(text) > 1 and text[0] == QUOTE and text[-1] == QUOTE and text != self.empty_quoted
            and inner.count(QUOTE) == 2 * width - 2 and inner.count(self.separator) == width - 1
        )

    def detour(self, text: str | bytes, rest: str | bytes) -> None:
        """Go on line by line over `text` (whole lines, from a record start), then `rest` (the
        start of the next line, completed from the file), then the file's next lines; until
        `detour_over`."""
        if isinstance(rest, bytes) and rest and self.raw is not None:  # completed before decoding (a split character)
            rest += next(_byte_chunks(self.raw, self.limit), b"")
        elif isinstance(rest, str) and rest:
            rest += self.stream.readline(self.limit + 3)
        lines = self.check(text) + self.check(rest)
        self.pending = iter(io.StringIO(lines, newline="").readlines())
        self.lines = chain(self.pending, self.file_lines)

    def detour_over(self) -> bool:
        """Whether every line handed to `detour` has been read (after a whole record, the file
        is then at a record boundary)."""
        return length_hint(self.pending) == 0


BYTE_CODECS = ("utf-8", "ascii")  # read as bytes where the file is seekable


def _byte_chunks(binary: BinaryIO, limit: int) -> Iterator[bytes]:
    """The file from here up to each `\\n`; a piece as long as a read may be (a line over the
    limit, or lines ended by `\\r` alone, which bytes cannot be cut at) is `NotSimple`."""
    while chunk := binary.readline(limit + 3):
        if not chunk.endswith(b"\n") and len(chunk) == limit + 3:
            raise too_long(limit)
        yield chunk


def _byte_lines(binary: BinaryIO, limit: int, codec: str) -> Iterator[str]:
    """The file's lines from here, decoded, split as `newline=""` splits (a lone `\\r` too)."""
    for chunk in _byte_chunks(binary, limit):
        yield from io.StringIO(chunk.decode(codec), newline="").readlines()


_UNREADABLE = (UnicodeError, EOFError, OSError, zlib.error, zipfile.BadZipFile, NotImplementedError, csv.Error)


@contextmanager
def scanning(source: RawFile) -> Iterator[Scan]:
    """Open the file, skip to its first record; any reading or parsing error is `NotSimple`."""
    try:
        with open_binary(source.path, source.name or None, source.fmt.limits) as stream:
            text = io.TextIOWrapper(stream, encoding=source.fmt.encoding, errors="strict", newline="")
            yield Scan(source, text, stream)
    except _UNREADABLE as exc:
        raise NotSimple(f"{type(exc).__name__}: {exc}") from exc
