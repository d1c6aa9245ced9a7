"""Isolating the rows a database refuses, without giving up the fast path.

A file is first loaded whole, fast, in one transaction. If the database refuses
some row (a data or integrity error: a value its column cannot hold, a constraint
the table carries), that transaction rolls back and the file is loaded again in
careful mode: each batch goes in under a SAVEPOINT, and a batch the database
refuses is rolled back to its savepoint and halved, recursively, down to the
single rows it refuses. Those rows are rejected (line, the database's reason, the
raw text) and every other row loads. Good files never pay for this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from monitor.backends import Backend
from monitor.backends.target import Target
from monitor.errors import first_line
from monitor.intake.folders import disk_problem
from monitor.load.read.records import Batch, Reject
from monitor.source import EncodingError, SourceError, SourceFormat

log = logging.getLogger("monitor.isolation")
T = TypeVar("T")
Attempt = Callable[[SourceFormat, bool], T]
Isolator = Callable[[Connection, Target, Iterable[Batch]], int]


def driver_error(exc: BaseException) -> BaseException | None:
    """The database driver's own error (PEP 249), raw from a fast path or wrapped by
    SQLAlchemy; None for any other error."""
    orig = getattr(exc, "orig", None) or exc
    names = {cls.__name__ for cls in type(orig).__mro__}
    return orig if names & {"DatabaseError", "InterfaceError"} else None


def is_transient(exc: BaseException) -> bool:
    """An error that may mean the database is gone (a lost or refused connection), or may be
    a statement it refused while up (a limit, a lock timeout): `Pipeline.database_answers`
    tells which. PEP 249's OperationalError or InterfaceError, raw or wrapped."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    orig = driver_error(exc)
    return orig is not None and bool({cls.__name__ for cls in type(orig).__mro__}
                                     & {"OperationalError", "InterfaceError"})


def failure_message(exc: BaseException, name: str) -> str:
    """Why a load failed, in one line that names the file."""
    if isinstance(exc, SourceError):
        return str(exc)
    orig = driver_error(exc)
    if orig is not None:
        return f"{name}: refused by the database: {first_line(orig)}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{name}: {disk_problem(exc, Path(exc.filename).parent)} (writing {Path(exc.filename).name})"
    return f"{name}: {first_line(exc)}"


def reason_of(exc: BaseException) -> str:
    """The database's message, first line only."""
    orig = getattr(exc, "orig", None) or exc
    return f"refused by the database: {first_line(orig)}"


def load_file(attempt: Attempt[T], fmt: SourceFormat, is_data_error: Callable[[BaseException], bool]) -> T:
    """Run `attempt(fmt, careful)` fast; on a data error (as the backend tells them,
    `Backend.is_data_error`), once more in careful mode.

    When the encoding was guessed as UTF-8 from the first megabyte and a later byte
    is not UTF-8, the load starts over as Windows-1252 (one retry, same rules).
    """
    try:
        return _fast_then_careful(attempt, fmt, is_data_error)
    except EncodingError:
        if not (fmt.detected and fmt.encoding == "utf-8"):
            raise
        log.warning("not UTF-8 after the first megabyte: reading again as Windows-1252")
        return _fast_then_careful(attempt, replace(fmt, encoding="cp1252", detected=False), is_data_error)


def _fast_then_careful(attempt: Attempt[T], fmt: SourceFormat, is_data_error: Callable[[BaseException], bool]) -> T:
    try:
        return attempt(fmt, False)
    except Exception as exc:
        if not is_data_error(exc):
            raise
        log.warning("the database refused a batch (%s); loading again row-safe to isolate it", reason_of(exc))
    return attempt(fmt, True)


def careful_writer(backend: Backend, reject: Callable[[Reject], None]) -> Isolator:
    """Careful mode's writer: every batch goes in under a savepoint, and a part the database
    refuses is halved, down to the single rows it refuses. Where a value the database cannot
    convert ends the whole transaction (Babelfish), such values are first found the same way
    on a connection of the backend's own (`Backend.probing`), and only the rows it takes go
    on to the savepoints (where constraints are checked against the table itself)."""

    def insert(conn: Connection, target: Target, batches: Iterable[Batch]) -> int:
        def under_savepoint(part: Batch) -> int:
            with conn.begin_nested():
                copies = [[*row] for row in part.rows]  # a backend may extend the rows it is given
                return backend.bulk_insert(conn, target, [copies])

        if not backend.value_errors_end_transactions(conn):
            return sum(_halving(backend, batch, under_savepoint, reject) for batch in batches if batch.rows)
        total = 0
        with backend.probing(conn, target) as probe:
            for batch in batches:
                taken = Batch()

                def tried(part: Batch, taken: Batch = taken) -> int:
                    probe(part.rows)
                    taken.rows += part.rows
                    taken.lines += part.lines
                    taken.raws += part.raws
                    return len(part.rows)

                if batch.rows and _halving(backend, batch, tried, reject):
                    total += _halving(backend, taken, under_savepoint, reject)
        return total

    return insert


def _halving(backend: Backend, batch: Batch, attempt: Callable[[Batch], int], reject: Callable[[Reject], None]) -> int:
    """`attempt` on the whole batch, then on the halves of a refused part in turn, down to
    the single rows the database refuses, which are rejected with its reason. Rows written."""
    try:
        return attempt(batch)
    except Exception as exc:
        if not backend.is_data_error(exc):
            raise
        if len(batch.rows) == 1:
            reject(Reject(batch.lines[0], None, reason_of(exc), batch.raws[0]))
            return 0
    half = len(batch.rows) // 2
    first = Batch(rows=batch.rows[:half], lines=batch.lines[:half], raws=batch.raws[:half])
    second = Batch(rows=batch.rows[half:], lines=batch.lines[half:], raws=batch.raws[half:])
    return _halving(backend, first, attempt, reject) + _halving(backend, second, attempt, reject)
