"""A file's records in blocks that start and end at record boundaries, each proven (`proof`)
or handed to the caller to read line by line with the `csv` module, then blocks again.

Only the stretch that is not proven goes line by line: the lines of its block (and, when a
record goes on past it, up to that record's end), then the file goes on in blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from monitor.backends.rawfile.proof import Proof
from monitor.backends.rawfile.scan import Scan, too_long


def record_blocks(
    scan: Scan, block_chars: int, proven: Callable[[str | bytes], Proof | None]
) -> Iterator[Proof | None]:
    """`Proof`s of whole records, about `block_chars` characters (or bytes) each. `None` means:
    read records from `scan.lines` until `scan.detour_over()`, then ask for the next block. A
    line or a record longer than the limit is `NotSimple` once that much of it is read. Blocks
    read as bytes are decoded (checked) before they are proven."""
    block_chars = min(block_chars, scan.limit)
    newline, ret = (b"\n", b"\r") if scan.raw is not None else ("\n", "\r")
    carry: Any = newline[:0]
    while True:
        data = scan.read(block_chars)
        final = not data
        text = carry + data
        if final:
            if not text:
                return
            cut = len(text)
        else:
            cut = text.rfind(newline) + 1
            if not cut:
                cut = text.rfind(ret) + 1  # lines ended by a carriage return alone: the csv module reads them
                if not cut:
                    if len(text) > scan.limit + 2:
                        raise too_long(scan.limit, scan.max_lines)
                    carry = text
                    continue
                scan.detour(text[:cut], text[cut:])
                carry = newline[:0]
                yield None
                continue
        if carry and _straddling_line(text, len(carry), newline, ret) > scan.limit:
            raise too_long(scan.limit, scan.max_lines)
        whole, rest = text[:cut], text[cut:]
        if final and not whole.endswith(newline):
            whole += newline
        scan.check(whole)
        proof = proven(whole)
        if proof is None:
            scan.detour(whole, rest)
            carry = newline[:0]
            yield None
            continue
        if proof.records:
            yield proof
        carry = proof.tail + rest
        if final:
            if carry:  # a quote never closed: the csv module says so
                scan.detour(carry, newline[:0])
                yield None
            return
        if len(carry) > scan.limit:
            raise too_long(scan.limit, scan.max_lines)


def _straddling_line(text: Any, at: int, newline: Any, ret: Any) -> int:
    """The length (without its line end) of the line of `text` holding position `at`: the
    only line that may be longer than the carry or the block read."""
    start = text.rfind(newline, 0, at) + 1
    end = text.find(newline, at)
    return len(text[start : len(text) if end < 0 else end].rstrip(ret))
