"""Proving at C speed (numpy, on a block's UTF-8 bytes) that a database's CSV parser reads a
block of records exactly as Python's `csv` module (strict) would, quoted line breaks and
`""` escapes included.

Quotes are numbered through the block, which starts at a record start: a quote at an even
number opens a quoted field (or is the second of a `""` pair), one at an odd number closes it
(or is the first of a pair). Python and PostgreSQL part ways only where a quote stands
inside an unquoted field (Python keeps it as text, PostgreSQL starts quoting) or text
follows a closing quote (Python refuses it, PostgreSQL appends it). So an opening quote must
follow a delimiter, a line end, the block start or a quote, and a closing quote must be
followed by a quote, a delimiter or a line end. Then a line end outside quotes (an even count
of quotes before it) ends a record, for both parsers. A carriage return outside quotes must
be followed by `\\n` (the pair is made `\\n`, as COPY reads one line-end style); inside
quotes it stays. A record that could be blank (the reader skips it, a database would not),
a NUL, a record longer than the limit: not proven here (`None`); the caller reads those
lines with the `csv` module.
"""

from __future__ import annotations

from monitor.backends.rawfile.proven import RECORD_LINES, Proof

__all__ = ["RECORD_LINES", "Proof", "prove"]


def prove(text: str | bytes, delimiter: str, limit: int, max_lines: int = RECORD_LINES, *, width: int = 0,
          eol: str | None = None, end_marker: bool = False) -> Proof | None:
    """`text` proven (`proof_numpy.prove_block` says how), or None."""
    from monitor.backends.rawfile.proof_numpy import prove_block  # numpy comes with the first block

    return prove_block(text, delimiter, limit, max_lines, width=width, eol=eol, end_marker=end_marker)
