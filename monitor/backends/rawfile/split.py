"""Rows cut from a file's lines with `str.split` where that is certain (see `scan`), parsed
by the `csv` module where it is not: the fast path of a backend that takes parsed rows."""

from __future__ import annotations

from collections.abc import Iterator

from monitor.backends.rawfile.scan import QUOTE, scanning, too_long
from monitor.backends.target import RawFile
from monitor.source import BATCH_CHARS


def row_batches(source: RawFile, batch_rows: int) -> Iterator[list[list[str]]]:
    """The records as lists of `width` strings, `batch_rows` at a time (fewer once a batch holds
    `BATCH_CHARS` characters: memory stays bounded with long values)."""
    with scanning(source) as scan:
        width, delimiter, separator = scan.width, scan.delimiter, scan.separator
        inner_quotes = 2 * width - 2
        empty_plain, empty_quoted, limit = scan.empty_plain, scan.empty_quoted, scan.line_limit
        rows: list[list[str]] = []
        append = rows.append
        fields: list[str] | None
        held = 0
        for line in scan.lines:
            size = len(line)
            held += size
            if size > limit and scan.too_long_line(line):
                raise too_long(scan.limit, scan.max_lines)
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
            if len(rows) >= batch_rows or held > BATCH_CHARS:
                yield rows
                rows, held = [], 0
                append = rows.append
        if rows:
            yield rows


