"""A file's records as the CSV text PostgreSQL's `COPY ... (FORMAT csv)` reads.

Blocks of records go as read once proven (`rawfile.proof`, at C speed: quoted line breaks and
`""` escapes included), each record ended as the first proven block's are (COPY reads one
style of line end). A block that is not proven goes line by line, and a record that is not a
simple line is parsed by the `csv` module and written again in canonical CSV; the next block
is proven again. COPY's own rules are kept here: a line
holding only `\\.` would end the data early (refused), and NUL cannot be stored in text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from monitor.backends.rawfile.blocks import record_blocks
from monitor.backends.rawfile.proof import Proof, prove
from monitor.backends.rawfile.scan import BLOCK_CHARS, NotSimple, Scan, scanning, too_long
from monitor.backends.target import RawFile

END_OF_DATA = "\\."


def copy_blocks(source: RawFile, block_chars: int = BLOCK_CHARS) -> Iterator[tuple[str | bytes, int, bool]]:
    """The records as CSV text for `COPY ... (FORMAT csv)` (str, or UTF-8 bytes), in blocks of
    about `block_chars` characters: (text, records in it, whether they went line by line).
    Every record ends alike: as the first proven block's do (`\\r\\n` or `\\n`)."""
    with scanning(source) as scan:
        byte_sized = len(scan.delimiter.encode("utf-8")) == 1
        eol = ""  # not known until a block is proven; then every record ends so (COPY takes one style)

        def proven(block: str | bytes) -> Proof | None:
            if not byte_sized:
                return None
            return prove(block, scan.delimiter, scan.limit, scan.max_lines, eol=eol, end_marker=True)

        for proof in record_blocks(scan, block_chars, proven):
            if proof is None:
                eol = eol or "\n"
                for text, count in _copy_lines(scan, block_chars, eol):
                    yield text, count, True
            else:
                eol = eol or proof.eol
                yield proof.data, proof.records, False


def _copy_lines(scan: Scan, block_chars: int, eol: str) -> Iterator[tuple[str, int]]:
    """The records of a detour (`Scan.detour`), as canonical CSV where they are not simple lines."""
    width, delimiter, limit = scan.width, scan.delimiter, scan.line_limit
    parts: list[str] = []
    size = 0
    for line in scan.lines:
        if len(line) > limit and scan.too_long_line(line):
            raise too_long(scan.limit, scan.max_lines)
        text = line.rstrip("\r\n")
        if not scan.whole_line(text):
            fields = scan.record(line)
            if fields is None:
                if scan.detour_over():
                    break
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
            yield _block(parts, eol), len(parts)
            parts, size = [], 0
        if scan.detour_over():
            break
    if parts:
        yield _block(parts, eol), len(parts)


def _block(parts: list[str], eol: str) -> str:
    text = eol.join(parts)
    if "\x00" in text:
        raise NotSimple("a NUL character (refused in text by the database)")
    return text + eol
