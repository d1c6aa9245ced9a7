"""Streaming a file's records: RFC 4180 parsing, line numbers, raw text for rejects.

Records are parsed as RFC 4180 (quoted delimiters, doubled quotes, line breaks
inside quotes, CRLF / LF / CR line ends, a missing final newline, blank lines),
leniently (a stray quote inside an unquoted field is kept as text). Every record
keeps its physical line number, and a rejected record keeps its raw text exactly
as it was in the file: the decoded lines are held per chunk and the record's
lines are joined back, never re-serialised.

Memory follows the longest record, so a record is never held past
`limits.max_record_chars`: a longer one (one endless line, or a quote that swallows the
rest of the file) fails the file, naming its line, before it is read whole.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from monitor.source import CHUNK_BYTES, EncodingError, SourceError, SourceFormat, open_binary, read_chunk

csv.field_size_limit(1 << 26)


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


def record_lines(limit: int) -> int:
    """The most lines one record may run over: a 64th of its characters' limit."""
    return limit // 64


def record_too_long(name: str, line: int, limit: int) -> SourceError:
    """The error of a record longer than `limits.max_record_chars` (or over more lines than
    `record_lines` of it)."""
    return SourceError(f"{name}: line {line}: a record longer than {limit:,} characters, or over more than "
                       f"{record_lines(limit):,} lines (limits.max_record_chars): not loaded")


class _Lines:
    """The file's decoded lines (terminators kept), numbered from 1, streamed by chunk.

    Chunks are held from the line `keep_from` on, so the raw text of the record
    being parsed (and the one before it) can be joined back. The record being parsed
    starts at `record_from`; it may not grow past `limit` characters nor `record_lines`
    lines (each held line costs memory of its own), nor may a line pass `limit`. When a
    chunk is read, the reader has taken every line before it: the record spans them all.
    """

    def __init__(self, stream: BinaryIO, encoding: str, name: str, limit: int) -> None:
        self.stream, self.encoding, self.name, self.limit = stream, encoding, name, limit
        self.max_lines = record_lines(limit)
        self.keep_from = self.record_from = 1
        self.nul = False  # a NUL character was seen: records are checked for it
        self._held: list[tuple[int, list[str], int]] = []  # (first line, lines, characters)
        self._held_chars = 0
        self._next = 1

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._chunks())

    def _chunks(self) -> Iterator[list[str]]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        pieces: list[str] = []  # an unfinished line, in pieces, and its length
        consumed = unfinished = 0
        while True:
            chunk = read_chunk(self.stream, CHUNK_BYTES, self.name)
            final = not chunk
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                raise self._invalid(exc, pending + chunk, consumed - len(pending), "".join(pieces)) from exc
            consumed += len(chunk)
            self.nul = self.nul or "\x00" in text
            if not final and "\n" not in text and "\r" not in text:  # the line goes on: no copy yet
                pieces.append(text)
                unfinished += len(text)
                if unfinished > self.limit:
                    raise record_too_long(self.name, self._next, self.limit)
                continue
            pieces.append(text)
            lines = _split_lines("".join(pieces))
            chunk, text, pieces, unfinished = b"", "", [], 0  # only the lines stay alive
            if lines and max(map(len, lines)) > self.limit + 2:  # a line's text and its line end
                self._too_long_line(lines)
            if not final and lines and (lines[-1].endswith("\r") or not lines[-1].endswith("\n")):
                pieces = [lines.pop()]  # an unfinished line, or a CR whose LF may follow
                unfinished = len(pieces[0])
                if unfinished > self.limit:
                    raise record_too_long(self.name, self._next + len(lines), self.limit)
            if lines:
                while self._held and self._held[0][0] + len(self._held[0][1]) <= self.keep_from:
                    self._held_chars -= self._held.pop(0)[2]
                if self._held_chars > self.limit or self._next - self.record_from > self.max_lines:
                    self._check_record()
                size = sum(map(len, lines))
                self._held.append((self._next, lines, size))
                self._held_chars += size
                self._next += len(lines)
                yield lines
            if final:
                return

    def _too_long_line(self, lines: list[str]) -> None:
        for number, line in enumerate(lines, start=self._next):
            if len(line.rstrip("\r\n")) > self.limit:
                raise record_too_long(self.name, number, self.limit)

    def _check_record(self) -> None:
        """Fail when the record being parsed (from `record_from`) is over the limits, before
        the next chunk is read (its characters counted by whole chunks: at most one chunk
        more than the record's)."""
        size = sum(chars for base, lines, chars in self._held if base + len(lines) > self.record_from)
        if size > self.limit + CHUNK_BYTES or self._next - self.record_from > self.max_lines:
            raise record_too_long(self.name, self.record_from, self.limit)

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
        for base, lines, _ in self._held:
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
    limits = fmt.limits
    with open_binary(path, name, limits) as stream:
        source = _Lines(stream, fmt.encoding, name, limits.max_record_chars)
        reader = csv.reader(source, delimiter=fmt.delimiter, strict=False)
        batch = Batch()
        rows = batch.rows
        plain = shape is None and not keep_raw  # the hot path: records load as read
        start = last_start = 1
        loaded_last = full = False
        try:
            for _ in range(fmt.skip + 1):
                next(reader, None)
            start = source.record_from = reader.line_num + 1
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
                    kept = _misfit(fields, width, start, end, source, batch) if len(fields) != width else fields
                    if kept is not None and any(kept):
                        loaded_last = _take(kept, shape, start, end, source, batch, keep_raw)
                    full = len(batch.rejects) >= batch_rows  # memory stays bounded in a file of rejects
                start = source.record_from = end + 1
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


