"""A file's records as the CSV text PostgreSQL's `COPY ... (FORMAT csv)` reads.

Blocks whose lines are all simple (`Scan.simple_block`) go as read; from the first block
that is not, the file goes line by line, and a record that is not a simple line is parsed by
the `csv` module and written again in canonical CSV. COPY's own rules are kept here: a
line holding only `\\.` would end the data early (refused), and NUL cannot be stored in text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from monitor.backends.rawfile.scan import BLOCK_CHARS, NotSimple, Scan, scanning, simple_blocks, too_long
from monitor.backends.target import RawFile

END_OF_DATA = "\\."


def _ends_data_early(block: str) -> bool:
    """A line of a one-column file that COPY would read as the end-of-data marker."""
    return block.startswith(END_OF_DATA + "\n") or f"\n{END_OF_DATA}\n" in block


def copy_blocks(source: RawFile, block_chars: int = BLOCK_CHARS) -> Iterator[tuple[str, int]]:
    """The records as CSV text for `COPY ... (FORMAT csv)`, in blocks of about
    `block_chars` characters: (text, records in it). Every line ends with `\\n`."""
    with scanning(source) as scan:

        def simple(block: str) -> int | None:
            if scan.width == 1 and _ends_data_early(block):
                return None
            return scan.simple_block(block)

        yield from simple_blocks(scan, block_chars, simple)
        yield from _copy_lines(scan, block_chars)


def _copy_lines(scan: Scan, block_chars: int) -> Iterator[tuple[str, int]]:
    width, delimiter, limit = scan.width, scan.delimiter, scan.line_limit
    parts: list[str] = []
    size = 0
    for line in scan.lines:
        if len(line) > limit and scan.too_long_line(line):
            raise too_long(scan.limit)
        text = line.rstrip("\r\n")
        if not scan.whole_line(text):
            fields = scan.record(line)
            if fields is None:
                continue
            buffer = io.StringIO()
            # "\r\n" as the terminator: a field holding either character is quoted
            csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(fields)
            text = buffer.getvalue()[:-2]
        if width == 1 and text == END_OF_DATA:
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


