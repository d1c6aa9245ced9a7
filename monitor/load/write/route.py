"""Which way a file's rows travel into a table: decided here, once per table written, and logged.

Three ways, fastest first:

1. **the backend reads the file itself** (PostgreSQL `COPY` from the file's lines, SQLite's
   own CSV reader): offered only when the records load as read (`offer`) and the backend
   declares `reads_files`; it answers "loaded N rows" or "not this file, because ...";
2. **the general reader's batches** through the backend's bulk path (`bulk_insert`);
3. **careful mode**: the same batches under savepoints, halved down to the rows the database
   refuses (`monitor.load.write.isolation`), after a first try was refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from monitor.backends import Backend
from monitor.backends.target import FileLoaded, RawFile, Target
from monitor.load.write.isolation import Isolator
from monitor.source import SourceFormat

log = logging.getLogger("monitor.route")
GENERAL = "reading the file record by record"
CAREFUL = "loading batch by batch under savepoints"


@dataclass(frozen=True)
class RowSource:
    """A file's rows as the run offers them: the general reader's batches (made on demand),
    the file itself when it may be read as it is (`raw`, else `why_not_raw`), and in careful
    mode the writer that isolates refused rows."""

    name: str
    batches: Callable[[], Iterable[Any]]
    raw: RawFile | None = None
    why_not_raw: str = ""
    isolate: Isolator | None = None


def offer(
    path: Path, fmt: SourceFormat, *, shaped: bool, null_values: list[str], careful: bool,
    on_rows: Callable[[int], None], name: str = "",
) -> tuple[RawFile | None, str]:
    """The file as a backend may read it, or None and why not: only when every record loads
    as read (no declared types, key checks or dropped columns; the empty string the only
    null token) and the rows need not be isolated one by one."""
    if careful:
        return None, "isolating the rows the database refuses"
    if shaped:
        return None, "its records are shaped before loading (declared types, key checks or dropped columns)"
    if list(null_values) != [""]:
        return None, "null tokens other than the empty string"
    return RawFile(path, fmt, on_rows, name), ""


def write_rows(conn: Connection, backend: Backend, target: Target, source: RowSource) -> int:
    """Write the file's rows into `target` the fastest way open to it; log which and why."""
    if source.isolate is not None:
        log.debug("%s: %s (%s) into %s", source.name, CAREFUL, source.why_not_raw, target.key)
        return source.isolate(conn, target, source.batches())
    why = source.why_not_raw
    if source.raw is not None:
        if not backend.reads_files:
            why = f"the {backend.name} backend does not read files itself"
        elif source.raw.width != len(target.columns):
            why = f"the file has {source.raw.width} fields, the table {len(target.columns)} columns"
        else:
            read = backend.load_file(conn, target, source.raw)
            if isinstance(read, FileLoaded):
                log.debug("%s: %s: %d rows into %s", source.name, read.how, read.rows, target.key)
                return read.rows
            why = read.reason
    log.debug("%s: %s (%s) into %s", source.name, GENERAL, why, target.key)
    return backend.bulk_insert(conn, target, source.batches())
