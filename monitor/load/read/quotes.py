"""A quote never closed is an error of the file, not of a row: one message for every reader.

A stray `"` at the start of a field opens a quoted field that swallows every line after it
(delimiters and line ends included) until another quote. At the end of the file, or past
`limits.max_record_lines` lines, the file fails, naming the line where the quote opened and
how many lines it took (whatever the rule's `on_error`): rows hidden inside one "record" are
never reported as one rejected row.
"""

from __future__ import annotations

from monitor.source import SourceError

QUOTE = '"'


def opened_at(raw: str, delimiter: str) -> int:
    """How many lines into `raw` (a record's text, from its first line) the quoted field
    still open at its end begins (0: on its first line)."""
    line = opened = 0
    quoted, field_start = False, True
    index, size = 0, len(raw)
    while index < size:
        char = raw[index]
        if quoted:
            if char == QUOTE:
                if index + 1 < size and raw[index + 1] == QUOTE:
                    index += 1
                else:
                    quoted = False
            elif char == "\n" or (char == "\r" and raw[index + 1 : index + 2] != "\n"):
                line += 1
        elif char == QUOTE and field_start:
            quoted, opened = True, line
        elif char == delimiter:
            field_start = True
            index += 1
            continue
        field_start = False
        index += 1
    return opened


def unclosed_quote(name: str, raw: str, delimiter: str, first: int, last: int) -> SourceError:
    """The error of a quoted field still open at the end of the file (the record on lines
    `first`..`last`, its text `raw`)."""
    line = first + opened_at(raw, delimiter)
    return SourceError(f"{name}: line {line}: a quote opened on this line is never closed: it would swallow "
                       f"{last - line + 1:,} line(s), to the end of the file at line {last:,}: not loaded "
                       "(close or remove the stray quote)")


def quote_runs_on(name: str, line: int, most: int) -> SourceError:
    """The error of a record (a quoted field) that runs over more than `most` lines."""
    return SourceError(f"{name}: line {line}: a quoted field of the record starting on this line is not closed "
                       f"within {most:,} lines (limits.max_record_lines): it would swallow them all: not loaded "
                       "(close or remove the stray quote, or raise the limit)")
