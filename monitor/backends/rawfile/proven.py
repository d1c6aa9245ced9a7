"""What a proof hands on (`Proof`), apart from the numpy work that makes it (`proof_numpy.py`),
so that both `proof.py` and `proof_numpy.py` read it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import Limits

RECORD_LINES = Limits().max_record_lines  # the default bound on the lines of one record


@dataclass(frozen=True)
class Proof:
    """Records proven: `data`, the text to hand on (UTF-8 when proven here; empty unless asked
    for), how many, `tail`, the text after the last record end (a record that goes on past the
    block), and `eol`, what ends each record in `data`."""

    data: str | bytes
    records: int
    tail: str | bytes
    eol: str = "\n"
