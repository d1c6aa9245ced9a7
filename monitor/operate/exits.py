"""How a command ends: its exit code, and the one line that says why when it did not succeed.

Every command's errors end here (`ending`), so none prints a traceback: a configuration or
URL mistake, a database that does not answer, a file that cannot be written, or a fault of
the program itself are each said in one line, and each has its own exit code (README,
"Exit codes").
"""

from __future__ import annotations

import os
import traceback
from enum import IntEnum

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from monitor.config import ConfigError
from monitor.errors import first_line
from monitor.operate.logs import redact

DEBUG_ENV = "INGEST_MONITOR_DEBUG"  # set to 1: let an unexpected error raise with its traceback


class Exit(IntEnum):
    """The exit codes of every `ingest-monitor` command."""

    OK = 0
    FAILED = 1  # a file failed, a re-run was refused, nothing matched, an output could not be written
    USAGE = 2  # the command line or the configuration (the database URL included) is wrong
    DATABASE = 3  # the database does not answer, refuses the login, or lacks the database named
    REJECTS = 4  # ingest / retry / replay: every file loaded, but rows were rejected
    RUNNING = 5  # run: a daemon with this instance name already runs here against this database
    INTERNAL = 70  # a fault of the program (the line names it; INGEST_MONITOR_DEBUG=1 shows the traceback)


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message names it (password hidden) and says why."""


class AlreadyRunning(Exception):
    """Another daemon holds this instance name here; the message says which."""


def database_reason(exc: BaseException) -> str:
    """What the driver said, in one line, without SQLAlchemy's wrapping."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return first_line(exc.orig)
    return first_line(exc)


def said(exc: BaseException) -> str:
    """`Type: first line` of what went wrong (the driver's own error, unwrapped)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return f"{type(inner).__name__}: {first_line(inner)}"


def is_unreachable(exc: BaseException) -> bool:
    """A connection that failed or was lost (as opposed to a statement the database refused)."""
    return isinstance(exc, (OperationalError, InterfaceError, DatabaseUnavailable))


def ending(exc: BaseException) -> tuple[Exit, str]:
    """The exit code and the one line for an error that ended a command."""
    if isinstance(exc, ConfigError):
        return Exit.USAGE, "\n".join(f"config error: {line}" for line in str(exc).splitlines())
    if isinstance(exc, AlreadyRunning):
        return Exit.RUNNING, f"refused: {exc}"
    if isinstance(exc, DatabaseUnavailable):
        return Exit.DATABASE, f"database unavailable: {exc}"
    if isinstance(exc, SQLAlchemyError):
        kind = "database unavailable" if is_unreachable(exc) else "database error"
        return Exit.DATABASE, f"{kind}: {database_reason(exc)}"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return Exit.FAILED, f"error: {where}{exc.strerror or first_line(exc)}"
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    return Exit.INTERNAL, (f"internal error: {type(exc).__name__}: {first_line(exc)}{at}; "
                           f"{DEBUG_ENV}=1 shows the traceback")


def one_line(exc: BaseException) -> tuple[Exit, str]:
    """`ending`, with any password in the line hidden."""
    code, line = ending(exc)
    return code, redact(line)
