"""SQLite reading a CSV file itself: the `vsv` virtual table (the `sqlean` driver's SQLite).

`INSERT INTO target SELECT ... FROM vsv` moves every record inside SQLite, in C, in one
statement that runs without Python's GIL. Meanwhile a thread reads the same file with
`native_counts`, which proves record by record that `vsv` reads what the
general reader would load (valid text, well-formed quotes, every record as wide as the
header, none longer than `limits.max_record_chars`) and counts them. The insert stands only
when the proof holds and both counts agree; otherwise the caller rolls it back and loads
another way. Empty fields load as NULL. `vsv` never reads a record the check has not proven
yet (it waits for the proof, `CHECK_EVERY` records ahead), so a line too long to hold is
never read whole by SQLite either.
"""

from __future__ import annotations

import codecs
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from monitor.backends.rawfile.attempt import Attempt
from monitor.backends.rawfile.blocks import record_blocks
from monitor.backends.rawfile.proof import Proof, prove
from monitor.backends.rawfile.scan import BLOCK_CHARS, NotSimple, Scan, scanning, too_long
from monitor.backends.sqlite import fifo_feed
from monitor.backends.target import RawFile

CSV_MODULE = "vsv"
CSV_TABLE = "temp.ingest_monitor_csv"
GO_ON = "ingest_monitor_go_on"
CHECK_EVERY = 16_384  # records between two questions to the check
log = logging.getLogger("monitor.backends.sqlite")


def driver_module(name: str = "sqlean") -> ModuleType:
    """SQLite's driver module: `sqlean` (a current SQLite with the `vsv` CSV reader, none of
    its other extensions enabled) or the standard library's `sqlite3`, which is also what
    `sqlean` falls back to where it is not installed."""
    if name == "sqlite3":
        return sqlite3
    try:
        import sqlean  # type: ignore[import-untyped]  # ships no type hints
    except ImportError:
        log.warning("the sqlean driver is not installed; SQLite runs on the standard sqlite3 module")
        return sqlite3
    sqlean.extensions.enable(CSV_MODULE)
    return sqlean


class NotNative(Exception):
    """The file is sound, but the database's own CSV reader would read it otherwise (a blank
    record, a line ended by a lone carriage return, a NUL): a Python fast path takes it."""


NATIVE_ENCODINGS = ("utf-8", "utf-8-sig", "ascii")
NATIVE_DELIMITERS = (",", ";", "\t", "|")
NATIVE_PROGRESS_LINES = 20_000


def native_readable(source: RawFile) -> bool:
    """Whether SQLite may read the file itself: UTF-8 text with one of the usual delimiters,
    plain, or compressed where a named pipe can hand it over (`fifo_feed`) and its header
    is one line (the pipe leaves the header out)."""
    if source.fmt.compression != "none" and not (
        fifo_feed.available() and not any("\n" in name or "\r" in name for name in source.fmt.header)
    ):
        return False
    return (
        codecs.lookup(source.fmt.encoding).name in NATIVE_ENCODINGS
        and source.fmt.delimiter in NATIVE_DELIMITERS
    )


def native_counts(source: RawFile, block_chars: int = BLOCK_CHARS) -> Iterator[int]:
    """Record counts, stretch by stretch, proving that a database reading the file itself as
    RFC 4180 CSV (SQLite's `vsv`) gets exactly the records the general reader would load:
    valid text, well-formed quotes (strict `csv`), every record as wide as the header or
    wider by empty fields only (which that reader ignores). `NotSimple` when the general
    reader must judge the file, `NotNative` when only the database would read it otherwise."""
    with scanning(source) as scan:
        byte_sized = len(scan.delimiter.encode("utf-8")) == 1

        def proven(block: str | bytes) -> Proof | None:
            return prove(block, scan.delimiter, scan.limit, width=scan.width) if byte_sized else None

        for proof in record_blocks(scan, block_chars, proven):
            if proof is None:
                yield from _native_lines(scan)
            else:
                yield proof.records


def _native_lines(scan: Scan) -> Iterator[int]:
    count, limit = 0, scan.line_limit
    for line in scan.lines:
        if len(line) > limit and scan.too_long_line(line):
            raise too_long(scan.limit)
        if line.endswith("\r"):
            raise NotNative("a line ends with a carriage return alone")
        text = line.rstrip("\r\n")
        if "\x00" in text:
            raise NotNative("a NUL character")
        if not scan.whole_line(text) and scan.record(line) is None:
            raise NotNative("a blank record (skipped by the reader)")
        count += 1
        if count == NATIVE_PROGRESS_LINES:
            yield count
            count = 0
        if scan.detour_over():
            break
    if count:
        yield count


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def csv_table_sql(raw: RawFile, pipe: Path | None = None) -> str:
    """`CREATE VIRTUAL TABLE` reading the file's records as columns c0..cN (text, '' when empty);
    from `pipe` instead of the file when given (its records only: no header, nothing to skip)."""
    fmt = raw.fmt
    fields = ", ".join(f"c{i}" for i in range(raw.width))
    separator = "\\t" if fmt.delimiter == "\t" else fmt.delimiter
    options = [
        f"filename={_string(str(pipe or raw.path))}",
        # the header line, or an Excel `sep=` line with `skip=1` for the header
        "header=no" if pipe else "header=yes",
        f"columns={raw.width}",
        f"schema={_string(f'CREATE TABLE x({fields})')}",
        f"fsep={_string(separator)}",  # text is not validated here: the check decodes it strictly
    ]
    if fmt.skip and not pipe:
        options.append(f"skip={int(fmt.skip)}")
    return f"CREATE VIRTUAL TABLE {CSV_TABLE} USING {CSV_MODULE}({', '.join(options)})"


class _Check(threading.Thread):
    """`native_counts` in a thread, reporting progress through the attempt."""

    def __init__(self, raw: RawFile, attempt: Attempt) -> None:
        super().__init__(name="sqlite-csv-check", daemon=True)
        self.raw, self.attempt = raw, attempt
        self.records = 0
        self.error: BaseException | None = None
        self.ended = False
        self._proven = threading.Condition()

    def run(self) -> None:
        try:
            for count in native_counts(self.raw):
                with self._proven:
                    self.records += count
                    self._proven.notify_all()
                self.attempt.read(count)
        except BaseException as exc:  # handed to the loading thread
            self.error = exc
        finally:
            with self._proven:
                self.ended = True
                self._proven.notify_all()

    def wait_for(self, records: int) -> None:
        """Wait until `records` records are proven, or the check has ended; raise its error."""
        with self._proven:
            self._proven.wait_for(lambda: self.records >= records or self.ended)
        if self.error is not None:
            raise self.error


def insert_csv(
    driver: sqlite3.Connection, cursor: sqlite3.Cursor, into: str, load_id: int, raw: RawFile, attempt: Attempt
) -> int:
    """Rows of `raw` inserted by `into` (`INSERT INTO t (columns..., _load_id)`) through a
    `vsv` table, checked as the module says. Run it under a savepoint: on `NotSimple` or
    `NotNative` (from the check, or when SQLite read otherwise) the caller rolls back to it,
    which takes the `vsv` table away too.

    Every `CHECK_EVERY` records the insert asks whether to go on (a function of ours, in
    SQL), which waits until the check has proven the next `CHECK_EVERY`: a failed check, or
    the load cancelled, fails the statement, never the transaction (which `sqlite3_interrupt`
    would roll back whole). A compressed file reaches SQLite through a named pipe (`fifo_feed`)."""
    if raw.fmt.compression == "none":
        return _insert_csv(driver, cursor, into, load_id, raw, attempt, None)
    with fifo_feed.records_pipe(raw) as (pipe, feeder):
        inserted = _insert_csv(driver, cursor, into, load_id, raw, attempt, pipe)
    if feeder.error is not None:
        raise NotSimple(f"{type(feeder.error).__name__}: {feeder.error}") from feeder.error
    return inserted


def _insert_csv(
    driver: sqlite3.Connection, cursor: sqlite3.Cursor, into: str, load_id: int, raw: RawFile, attempt: Attempt,
    pipe: Path | None,
) -> int:
    try:
        cursor.execute(csv_table_sql(raw, pipe))
    except Exception as exc:
        raise NotNative(f"SQLite's CSV reader cannot open the file: {exc}") from exc
    check = _Check(raw, attempt)
    stopped: list[BaseException] = []

    def go_on(row: int) -> int:
        try:
            check.wait_for(row + CHECK_EVERY)
            if not check.is_alive():  # the check reports while it runs; then we do (cancellation)
                raw.read(0)
        except BaseException as exc:
            stopped.append(exc)
            raise
        return int(load_id)

    driver.create_function(GO_ON, 1, go_on)
    values = ", ".join([
        *(f"CASE WHEN c{i} <> '' THEN c{i} END" for i in range(raw.width)),  # NULL for ''; faster than NULLIF
        f"CASE WHEN rowid % {CHECK_EVERY} THEN {int(load_id)} ELSE {GO_ON}(rowid) END",
    ])
    check.start()
    failed: Exception | None = None
    try:
        check.wait_for(CHECK_EVERY)  # the first records proven before SQLite reads one
        inserted = cursor.execute(f"{into} SELECT {values} FROM {CSV_TABLE}").rowcount
    except Exception as exc:  # the driver's own error class (sqlean or sqlite3), or the check's
        failed = exc
    finally:
        check.join()
        driver.create_function(GO_ON, 1, None)
    reason = check.error or (stopped[0] if stopped else None)
    if reason is not None:
        raise reason from (failed if failed is not reason else None)
    if failed is not None:
        raise NotNative(f"SQLite's CSV reader stopped: {failed}") from failed
    if inserted != check.records:
        raise NotNative(f"SQLite's CSV reader read {inserted} records, the check {check.records}")
    cursor.execute(f"DROP TABLE {CSV_TABLE}")
    log.debug("%s: %d rows read by SQLite's CSV reader", raw.path.name, inserted)
    return inserted
