"""A file's records as the CSV text PostgreSQL's `COPY ... (FORMAT csv)` reads.

Blocks of records go as read once proven (`Scan.simple_block` by counts for lines that are
simple, else `rawfile.proof` at C speed, which takes quoted line breaks and `""` escapes):
`\\r\\n` outside quotes becomes `\\n`. A block that is not proven goes line by line, and a
record that is not a simple line is parsed by the `csv` module and written again in
canonical CSV; the next block is proven again. COPY's own rules are kept here: a line
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


def _may_end_data_early(block: str) -> bool:
    """Whether a line of `block` starts with the end-of-data marker (COPY ends there when it
    starts a record)."""
    return END_OF_DATA in block and (
        block.startswith((END_OF_DATA + "\n", END_OF_DATA + "\r"))
        or f"\n{END_OF_DATA}\n" in block or f"\n{END_OF_DATA}\r" in block
    )


def copy_blocks(source: RawFile, block_chars: int = BLOCK_CHARS) -> Iterator[tuple[str | bytes, int, bool]]:
    """The records as CSV text for `COPY ... (FORMAT csv)` (str, or UTF-8 bytes), in blocks of
    about `block_chars` characters: (text, records in it, whether they went line by line).
    Every line ends with `\\n`."""
    with scanning(source) as scan:
        byte_sized = len(scan.delimiter.encode("utf-8")) == 1

        def proven(block: str) -> Proof | None:
            if _may_end_data_early(block):
                return None
            lines = block.replace("\r\n", "\n") if "\r" in block else block
            count = scan.simple_block(lines)
            if count is not None:
                return Proof(lines, count, "")
            return prove(block, scan.delimiter, scan.limit) if byte_sized else None

        for proof in record_blocks(scan, block_chars, proven):
            if proof is None:
                for text, count in _copy_lines(scan, block_chars):
                    yield text, count, True
            else:
                yield proof.data, proof.records, False


def _copy_lines(scan: Scan, block_chars: int) -> Iterator[tuple[str, int]]:
    """The records of a detour (`Scan.detour`), as canonical CSV where they are not simple lines."""
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
            yield _block(parts), len(parts)
            parts, size = [], 0
        if scan.detour_over():
            break
    if parts:
        yield _block(parts), len(parts)


def _block(parts: list[str]) -> str:
    text = "\n".join(parts)
    if "\x00" in text:
        raise NotSimple("a NUL character (refused in text by the database)")
    return text + "\n"
