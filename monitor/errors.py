"""How an error is said in one line (driver errors run over several)."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type's name when empty)."""
    for line in str(exc).strip().splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def brief(exc: BaseException) -> str:
    """`Type: first line`, for logs that say what went wrong without a traceback."""
    return f"{type(exc).__name__}: {first_line(exc)}"
