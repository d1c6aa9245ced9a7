"""The fast path for files whose rows need no conversion: read the file in the backend.

The general reader (`monitor.reader`) parses every record with the `csv` module,
keeps line numbers and raw text for rejects, and converts declared types. Most
files need none of that: every record is as wide as the header and every value
loads as text. For those, a backend may take the file itself (`RawSource`) and
move its rows with far less Python work per value:

- PostgreSQL streams the file's lines into `COPY` (the server parses them);
- SQLite reads a plain UTF-8 file itself (`monitor.backends.sqlite_csv`) while
  `native_counts` proves, in a thread, that it reads what the reader would; for
  other files (or without the sqlean driver) it takes lines cut with `str.split`.

All see exactly the records the general reader would load. A line is passed on
as it is only when its fields are certain without a CSV parser: no quote at all,
or every field quoted with no quote inside (`"a","b,c",""`). Any other record is
parsed by the `csv` module (strict, so a malformed one stops the fast path) and,
for `COPY`, written again in canonical CSV. Blank records are skipped as the
reader skips them. A record of the wrong width, a decoding error or a malformed
quote raises `NotSimple`: the backend rolls back what the fast path wrote and
loads the file through the general reader, which rejects what must be rejected.
What only SQLite's own reading would get wrong (a blank record, a lone CR ending
a line, a NUL) raises `NotNative`: the Python fast path takes the file instead.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import queue
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

from monitor.reader import SourceFormat, open_binary

QUOTE = '"'
FALLBACK_MESSAGE = "reading the file record by record"
log = logging.getLogger("monitor.fastpath")
BLOCK_CHARS = 1 << 20  # text handed to COPY per write


class NotSimple(Exception):
    """The file needs the general reader (a record of another width, a malformed quote, bad bytes)."""


@dataclass(frozen=True)
class RawSource:
    """The file behind a load, offered to a backend's fast path. Set only when the rows
    need no conversion (no declared types) and every null token is the empty string."""

    path: Path
    fmt: SourceFormat
    on_rows: Callable[[int], None] | None = None

    @property
    def width(self) -> int:
        """Fields per record (the header's)."""
        return len(self.fmt.header)


class RowStream:
    """Batches of rows for `Backend.bulk_insert`, with the `RawSource` a fast path may use
    instead (`raw` is None when the rows must come from the general reader)."""

    def __init__(self, batches: Iterable[Any], raw: RawSource | None = None) -> None:
        self.batches = batches
        self.raw = raw

    def __iter__(self) -> Iterator[Any]:
        return iter(self.batches)


def raw_source(batches: Iterable[Any], null_values: list[str]) -> RawSource | None:
    """The fast path's source when `batches` offers one and the null tokens allow it."""
    raw = getattr(batches, "raw", None)
    if isinstance(raw, RawSource) and list(null_values) == [""]:
        return raw
    return None


class _Scan:
    """Decoded lines after the header, and what a simple line looks like for this file."""

    def __init__(self, source: RawSource, stream: io.TextIOWrapper) -> None:
        fmt = source.fmt
        self.stream = stream
        self.width = width = source.width
        self.delimiter = fmt.delimiter
        self.separator = QUOTE + fmt.delimiter + QUOTE
        self.lines: Iterator[str] = iter(stream)
        header = csv.reader(self.lines, delimiter=fmt.delimiter, strict=False)
        for _ in range(getattr(fmt, "skip", 0) + 1):  # an Excel `sep=` line, then the header
            next(header, None)
        self.empty_plain = fmt.delimiter * (width - 1)
        self.empty_quoted = QUOTE + self.separator.join([""] * width) + QUOTE

    def record(self, line: str) -> list[str] | None:
        """The record starting with `line` (going on over the next lines if a quoted field
        does), parsed by the `csv` module (strict), with empty fields beyond the header's
        width dropped; None for a blank record; `NotSimple` for a malformed record or one of
        another width."""
        reader = csv.reader(chain([line], self.lines), delimiter=self.delimiter, strict=True)
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

    def simple_block(self, block: str) -> int | None:
        """How many records `block` holds (whole lines, each ending `\\n`) when each of its
        lines is one record that Python's `csv` module and PostgreSQL's COPY parse alike: no
        quote at all, or every field quoted with no quote inside. None otherwise. The counts
        prove it without a loop: with every line starting and ending with a quote, 2w quotes
        a line and w - 1 separators `","` a line, each separator holding two of the inner
        quotes, no quote is left inside a field. Widths are checked by COPY itself."""
        if "\r" in block or "\x00" in block or block.startswith("\n") or "\n\n" in block:
            return None
        lines, width, separator = block.count("\n"), self.width, self.separator
        if QUOTE not in block:
            empty = self.empty_plain + "\n"
            if block.startswith(empty) or "\n" + empty in block:
                return None
            if width == 1 and (block.startswith("\\.\n") or "\n\\.\n" in block):
                return None
            return lines
        empty = self.empty_quoted + "\n"
        if (
            block[0] == QUOTE and block.count("\n" + QUOTE) == lines - 1 and block.count(QUOTE + "\n") == lines
            and block.count(QUOTE) == 2 * width * lines and block.count(separator) == (width - 1) * lines
            and not block.startswith((separator, QUOTE + "\n", empty))
            and "\n" + separator not in block and separator + "\n" not in block
            and "\n" + QUOTE + "\n" not in block and "\n" + empty not in block
        ):
            return lines
        return None

    def even_block(self, block: str) -> int | None:
        """`simple_block`, and each line as wide as the header (its counts prove the widths of
        the whole block only; a database reading the block itself checks none)."""
        count = self.simple_block(block)
        if count is None:
            return None
        lines = block.split("\n")
        lines.pop()  # after the last line end
        separator = self.separator if QUOTE in block else self.delimiter
        return count if set(map(str.count, lines, repeat(separator))) == {self.width - 1} else None

    def rest_as_lines(self, block: str, carry: str) -> None:
        """Go on line by line from `block` (whole lines), then `carry` (the start of the next
        line), then the rest of the file."""
        if carry:
            carry += self.stream.readline()
        self.lines = chain(io.StringIO(block + carry, newline="").readlines(), self.lines)


_UNREADABLE = (UnicodeError, EOFError, OSError, zlib.error, zipfile.BadZipFile, NotImplementedError, csv.Error)


@contextmanager
def _scanning(source: RawSource) -> Iterator[_Scan]:
    """Open the file, skip to its first record; any reading or parsing error is `NotSimple`."""
    try:
        with open_binary(source.path) as stream:
            text = io.TextIOWrapper(stream, encoding=source.fmt.encoding, errors="strict", newline="")
            yield _Scan(source, text)
    except _UNREADABLE as exc:
        raise NotSimple(f"{type(exc).__name__}: {exc}") from exc


def copy_blocks(source: RawSource, block_chars: int = BLOCK_CHARS) -> Iterator[tuple[str, int]]:
    """The records as CSV text for `COPY ... (FORMAT csv)`, in blocks of about
    `block_chars` characters: (text, records in it). Every line ends with `\\n`.

    Blocks whose lines are all simple (`_Scan.simple_block`) go as read; from the
    first block that is not, the file goes line by line."""
    with _scanning(source) as scan:
        yield from _simple_blocks(scan, block_chars, scan.simple_block)
        yield from _copy_lines(scan, block_chars)


def _simple_blocks(scan: _Scan, block_chars: int, simple: Callable[[str], int | None]) -> Iterator[tuple[str, int]]:
    """Blocks of whole lines (`\\r\\n` made `\\n`) with their record counts, while `simple`
    counts them; from the first block it does not, `scan.lines` goes on line by line."""
    carry = ""
    while True:
        data = scan.stream.read(block_chars)
        final = not data
        data = carry + data
        cut = len(data) if final else data.rfind("\n") + 1
        if not cut:  # no line end yet: read on (a line longer than 64 blocks goes line by line)
            if final:
                return
            if len(data) < 64 * block_chars:
                carry = data
                continue
            scan.rest_as_lines("", data)
            return
        raw, carry = data[:cut], data[cut:]
        block = raw.replace("\r\n", "\n") if "\r" in raw else raw
        if final and not block.endswith("\n"):
            block += "\n"
        count = simple(block)
        if count is None:
            scan.rest_as_lines(raw, carry)
            return
        yield block, count
        if final:
            return


def _copy_lines(scan: _Scan, block_chars: int) -> Iterator[tuple[str, int]]:
    width, delimiter = scan.width, scan.delimiter
    parts: list[str] = []
    size = 0
    for line in scan.lines:
        text = line.rstrip("\r\n")
        if not scan.whole_line(text):
            fields = scan.record(line)
            if fields is None:
                continue
            buffer = io.StringIO()
            # "\r\n" as the terminator: a field holding either character is quoted
            csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(fields)
            text = buffer.getvalue()[:-2]
        if width == 1 and text == "\\.":
            raise NotSimple("a line holds only the end-of-data marker")
        parts.append(text)
        size += len(text)
        if size >= block_chars:
            yield _block(parts), len(parts)
            parts, size = [], 0
    if parts:
        yield _block(parts), len(parts)


def _block(parts: list[str]) -> str:
    text = "\n".join(parts)
    if "\x00" in text:
        raise NotSimple("a NUL character (refused in text by the database)")
    return text + "\n"


class NotNative(Exception):
    """The file is sound, but the database's own CSV reader would read it otherwise (a blank
    record, a line ended by a lone carriage return, a NUL): a Python fast path takes it."""


FALLBACK_MESSAGES: dict[type[BaseException], str] = {NotNative: "reading the file in Python"}
NATIVE_ENCODINGS = ("utf-8", "utf-8-sig", "ascii")
NATIVE_DELIMITERS = (",", ";", "\t", "|")
NATIVE_PROGRESS_LINES = 20_000


def native_readable(source: RawSource) -> bool:
    """Whether a database may read the file itself: plain (not compressed) UTF-8 text with
    one of the usual delimiters."""
    return (
        source.fmt.compression == "none"
        and codecs.lookup(source.fmt.encoding).name in NATIVE_ENCODINGS
        and source.fmt.delimiter in NATIVE_DELIMITERS
    )


def native_counts(source: RawSource, block_chars: int = BLOCK_CHARS) -> Iterator[int]:
    """Record counts, stretch by stretch, proving that a database reading the file itself as
    RFC 4180 CSV (SQLite's `vsv`) gets exactly the records the general reader would load:
    valid text, well-formed quotes (strict `csv`), every record as wide as the header or
    wider by empty fields only (which that reader ignores). `NotSimple` when the general
    reader must judge the file, `NotNative` when only the database would read it otherwise."""
    with _scanning(source) as scan:
        for _, count in _simple_blocks(scan, block_chars, scan.even_block):
            yield count
        yield from _native_lines(scan)


def _native_lines(scan: _Scan) -> Iterator[int]:
    count = 0
    for line in scan.lines:
        if line.endswith("\r"):
            raise NotNative("a line ends with a carriage return alone")
        text = line.rstrip("\r\n")
        if "\x00" in text:
            raise NotNative("a NUL character")
        if not scan.whole_line(text) and scan.record(line) is None:
            raise NotNative("a blank record (skipped by the reader)")
        count += 1
        if count == NATIVE_PROGRESS_LINES:
            yield count
            count = 0
    if count:
        yield count


def row_batches(source: RawSource, batch_rows: int) -> Iterator[list[list[str]]]:
    """The records as lists of `width` strings, `batch_rows` at a time."""
    with _scanning(source) as scan:
        width, delimiter, separator = scan.width, scan.delimiter, scan.separator
        inner_quotes = 2 * width - 2
        empty_plain, empty_quoted = scan.empty_plain, scan.empty_quoted
        rows: list[list[str]] = []
        append = rows.append
        for line in scan.lines:
            text = line.rstrip("\r\n")
            if QUOTE not in text:
                fields = text.split(delimiter)
                if len(fields) != width or text == empty_plain:
                    fields = scan.record(line)
            elif text[0] == QUOTE and text[-1] == QUOTE and len(text) > 1 and text[1:-1].count(QUOTE) == inner_quotes:
                # the 2w-2 inner quotes are all in the w-1 separators: no quote inside a field
                fields = text[1:-1].split(separator)
                if len(fields) != width or text == empty_quoted:
                    fields = scan.record(line)
            else:
                fields = scan.record(line)
            if fields is not None:
                append(fields)
            if len(rows) >= batch_rows:
                yield rows
                rows = []
                append = rows.append
        if rows:
            yield rows


class Attempt:
    """One fast-path try under a savepoint (`attempted`): counts the rows it reports read;
    `failed` holds what stopped it."""

    def __init__(self, raw: RawSource) -> None:
        self.raw = raw
        self.counted = 0
        self.failed: BaseException | None = None

    def read(self, rows: int) -> None:
        """Report `rows` more records read (progress, cancellation)."""
        self.counted += rows
        if self.raw.on_rows:
            self.raw.on_rows(rows)


@contextmanager
def attempted(
    execute: Callable[[str], Any], raw: RawSource, refused: tuple[type[BaseException], ...] = (NotSimple,)
) -> Iterator[Attempt]:
    """Run a fast path under a savepoint. When it raises one of `refused`, roll back to the
    savepoint, give back the rows reported, log why and set `Attempt.failed`; the error stops
    there (the caller then loads another way). Anything else goes on up."""
    attempt = Attempt(raw)
    execute("SAVEPOINT ingest_monitor_fast")
    try:
        yield attempt
    except refused as exc:
        execute("ROLLBACK TO SAVEPOINT ingest_monitor_fast")
        execute("RELEASE SAVEPOINT ingest_monitor_fast")
        if raw.on_rows and attempt.counted:
            raw.on_rows(-attempt.counted)
        attempt.failed = exc
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.info("%s: %s (%s)", raw.path.name, FALLBACK_MESSAGES.get(type(exc), FALLBACK_MESSAGE), reason)
        return
    execute("RELEASE SAVEPOINT ingest_monitor_fast")


_DONE = object()


@contextmanager
def prefetched(produce: Callable[[], Iterable[Any]], depth: int = 4) -> Iterator[Iterator[Any]]:
    """Iterate `produce()` in a thread of its own, `depth` items ahead: the file is read
    and checked while the caller waits on the database (a socket wait releases the GIL).
    The producer's error is raised in the caller; leaving the block stops the producer."""
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller, raised there
            offer(exc)

    def consume() -> Iterator[Any]:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=run, name="fastpath-reader", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()
