"""The proof of `proof.py`, on a block's UTF-8 bytes as numpy arrays (imported with the first
block proven: a daemon that reads no file, a stream's only, never loads numpy)."""

from __future__ import annotations

import numpy as np

from monitor.backends.rawfile.proven import RECORD_LINES, Proof

QUOTE, LF, CR, BACKSLASH, DOT = 34, 10, 13, 92, 46


def _inside(quotes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Whether each position lies inside quotes (an odd count of quotes before it)."""
    return (np.searchsorted(quotes, positions) & 1).astype(bool)


def prove_block(text: str | bytes, delimiter: str, limit: int, max_lines: int = RECORD_LINES, *, width: int = 0,
                eol: str | None = None, end_marker: bool = False) -> Proof | None:
    """`text` (whole lines, starting at a record start; UTF-8 if bytes) proven as `proof.py` says, or None.
    With `width`, every record must also have exactly `width` fields (a database that does
    not check widths itself). With `eol` the bytes to hand to the database come too, every
    record ended by `eol` (`"\\n"` or `"\\r\\n"`; `""`: the block's own when all its records
    end so, else `"\\n"`, said in `Proof.eol`). With `end_marker`, a record may not start
    with `\\.` (COPY's end of data)."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    size = len(raw)
    a = np.frombuffer(raw, dtype=np.uint8)
    sep = ord(delimiter)
    if b"\x00" in raw:
        return None
    padded = np.full(size + 4, LF, dtype=np.uint8)  # line ends before and after: the block's edges
    padded[1 : size + 1] = a
    quotes = np.flatnonzero(a == QUOTE)
    if quotes.size:
        before = padded[quotes[0::2]]  # the byte before each opening quote
        after = padded[quotes[1::2] + 2]  # the byte after each closing quote
        if not (((before == sep) | (before == LF) | (before == QUOTE)).all()
                and ((after == sep) | (after == LF) | (after == QUOTE) | (after == CR)).all()):
            return None
    line_ends = np.flatnonzero(a == LF)
    quoted_ends = _inside(quotes, line_ends)
    ends = line_ends[~quoted_ends]
    if not ends.size:
        return Proof(b"", 0, text, eol or "\n")
    cut = int(ends[-1]) + 1
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    if int((ends - starts).max()) >= limit:
        return None  # a record (or one near it in bytes) over the limit: the reader measures it in characters
    if quoted_ends.any():
        lines = np.diff(np.flatnonzero(~quoted_ends), prepend=-1)
        if int(lines.max()) > max_lines:
            return None
    if _may_be_blank(padded, starts, sep) and _blank_record(a[:cut], ends, sep):
        return None
    returns = np.flatnonzero(a[:cut] == CR)
    bare = returns[~_inside(quotes, returns)] if returns.size else returns
    if bare.size and not (padded[bare + 2] == LF).all():
        return None  # a carriage return alone outside quotes ends a record for Python only
    if width and not _widths_are(a[:cut], quotes, ends, sep, width):
        return None
    if end_marker and ((padded[starts + 1] == BACKSLASH) & (padded[starts + 2] == DOT)).any():
        return None
    tail = raw[cut:] if isinstance(text, bytes) else raw[cut:].decode("utf-8")
    if eol is None:
        return Proof(b"", int(ends.size), tail)
    crlf = bare.size == ends.size  # every record ends `\r\n` (no other carriage return is outside quotes)
    eol = eol or ("\r\n" if crlf else "\n")
    if crlf == (eol == "\r\n") and (crlf or not bare.size):
        body = raw[:cut]
    elif eol == "\n":
        body = np.delete(a[:cut], bare).tobytes()
    else:  # a `\r` before each record's `\n` that has none
        lone = np.setdiff1d(ends, bare + 1, assume_unique=True)
        body = np.insert(a[:cut], lone, CR).tobytes()
    return Proof(body, int(ends.size), tail, eol)


def _may_be_blank(padded: np.ndarray, starts: np.ndarray, sep: int) -> bool:
    """Whether a record's first field may be empty (it starts with a delimiter, a line end or `""`
    then one of those): only then may the whole record be."""
    head, second, third = padded[starts + 1], padded[starts + 2], padded[starts + 3]
    ends_field = (third == sep) | (third == LF) | (third == CR)
    empty = (head == sep) | (head == LF) | (head == CR) | ((head == QUOTE) & (second == QUOTE) & ends_field)
    return bool(empty.any())


def _blank_record(a: np.ndarray, ends: np.ndarray, sep: int) -> bool:
    """Whether a record may hold only empty fields: nothing but delimiters, quotes and line ends."""
    other = ~((a == sep) | (a == QUOTE) | (a == LF) | (a == CR))
    seen = np.cumsum(other, dtype=np.int64)[ends]
    return bool((np.diff(seen, prepend=0) == 0).any())


def _widths_are(a: np.ndarray, quotes: np.ndarray, ends: np.ndarray, sep: int, width: int) -> bool:
    """Whether every record has `width - 1` delimiters outside quotes. A delimiter just after a
    closing quote or just before an opening one is outside; only the others are looked up."""
    delimiters = np.flatnonzero(a == sep)
    if quotes.size and delimiters.size:
        size = max(a.size, int(quotes[-1]) + 1) + 1  # the last place stays False: before the block's start
        closing = np.zeros(size, dtype=bool)
        closing[quotes[1::2]] = True
        opening = np.zeros(size, dtype=bool)
        opening[quotes[0::2]] = True
        known = closing[delimiters - 1] | opening[delimiters + 1]
        unknown = delimiters[~known]
        if unknown.size:
            keep = np.ones(delimiters.size, dtype=bool)
            keep[np.flatnonzero(~known)[_inside(quotes, unknown)]] = False
            delimiters = delimiters[keep]
    per_record = np.diff(np.searchsorted(delimiters, ends), prepend=0)
    return bool((per_record == width - 1).all())
