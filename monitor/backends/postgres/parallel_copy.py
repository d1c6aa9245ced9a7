"""One file's records over several connections at once: the server parses them in parallel.

The file is read once, in this thread, as `copy_text.copy_blocks` reads it for one `COPY`:
blocks of whole records (the proof knows where each record ends, so a line break inside
quotes is never a cut). Each block goes to whichever connection is free; each connection
runs one `COPY` in its own transaction. Only when every `COPY` has taken its blocks, and
the rows they report add up to the records read, do the transactions commit; else all roll
back. The table must be committed (others can see it) and take `_load_id` from the
transaction's setting (`PostgresBackend.share_for_filling`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from sqlalchemy import Connection, Engine

from monitor.backends.postgres.copy_text import copy_blocks
from monitor.backends.target import FileLoaded, FileRead, NotThisFile, RawFile
from monitor.errors import first_line

_END = None
_WAIT = 0.1  # seconds between looks at the other side while a queue is full or empty


class _Stopped(Exception):
    """The reading thread gave up: this `COPY` ends (and its transaction rolls back)."""


def copy_in_parallel(engine: Engine, sql: str, setting: tuple[str, str], raw: RawFile, connections: int,
                     refused: tuple[type[BaseException], ...]) -> FileRead:
    """`raw`'s records by `sql` (a `COPY ... FROM STDIN`) over `connections` connections, each
    having run `set_config(*setting, true)`; `FileLoaded`, or `NotThisFile` when one of
    `refused` was raised (every transaction rolled back, the records reported given back)."""
    blocks: queue.Queue[Any] = queue.Queue(maxsize=2 * connections)
    stop = threading.Event()
    dealt = [0, 0]  # records read, of which parsed line by line
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(connections)]
        transactions = [conn.begin() for conn in conns]
        try:
            with ThreadPoolExecutor(connections, thread_name_prefix="copy-slice") as pool:
                futures = [pool.submit(_copy, conn, sql, setting, blocks, stop) for conn in conns]
                try:
                    _deal(copy_blocks(raw), blocks, futures, raw, dealt)
                except BaseException:
                    stop.set()
                    raise
            rows = sum(future.result() for future in futures)
        except refused as exc:
            return _refused(transactions, raw, dealt[0], first_line(exc))
        if rows != dealt[0]:
            return _refused(transactions, raw, dealt[0], f"the server counted {rows:,} rows, {dealt[0]:,} were sent")
        for transaction in transactions:
            transaction.commit()
    how = f"read by COPY from its lines over {connections} connections"
    return FileLoaded(rows, how + (f" ({dealt[1]:,} records parsed line by line in Python)" if dealt[1] else ""))


def _refused(transactions: list[Any], raw: RawFile, read: int, reason: str) -> NotThisFile:
    for transaction in transactions:
        transaction.rollback()
    if read:
        raw.read(-read)
    return NotThisFile(reason)


def _deal(produced: Iterable[tuple[str | bytes, int, bool]], blocks: queue.Queue[Any],
          futures: list[Future[int]], raw: RawFile, dealt: list[int]) -> None:
    """Every block into the queue (the connections take them as they are free), then an end
    for each; a connection's error is raised here as soon as it is seen."""
    for block, count, by_line in produced:
        _put(blocks, block, futures)
        dealt[0] += count
        dealt[1] += count if by_line else 0
        raw.read(count)
    for _ in futures:
        _put(blocks, _END, futures)


def _put(blocks: queue.Queue[Any], item: Any, futures: list[Future[int]]) -> None:
    while True:
        for future in futures:
            if future.done() and (item is not _END or future.exception() is not None):
                future.result()  # raises its error; a connection never ends early otherwise
                raise _Stopped("a connection ended before the end of the file")
        try:
            blocks.put(item, timeout=_WAIT)
            return
        except queue.Full:
            continue


def _copy(conn: Connection, sql: str, setting: tuple[str, str], blocks: queue.Queue[Any],
          stop: threading.Event) -> int:
    """One `COPY` of the blocks this connection takes, to the end; the rows it wrote."""
    driver = conn.connection.driver_connection
    assert driver is not None
    utf8 = driver.info.encoding == "utf-8"  # else bytes are decoded again
    with driver.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", setting)
        with cursor.copy(sql) as copy:
            for block in _taken(blocks, stop):
                copy.write(block if utf8 or isinstance(block, str) else block.decode("utf-8"))
        return int(cursor.rowcount)


def _taken(blocks: queue.Queue[Any], stop: threading.Event) -> Iterator[Any]:
    while True:
        try:
            block = blocks.get(timeout=_WAIT)
        except queue.Empty:
            if stop.is_set():
                raise _Stopped("the file's reading stopped") from None
            continue
        if block is _END:
            return
        yield block
