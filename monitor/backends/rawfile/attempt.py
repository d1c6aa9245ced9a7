"""A fast-path try under a savepoint, and reading ahead in a thread while the database works."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.target import RawFile
from monitor.errors import first_line


class Attempt:
    """One fast-path try under a savepoint (`attempted`): counts the rows it reports read;
    `failed` holds what stopped it."""

    def __init__(self, raw: RawFile) -> None:
        self.raw = raw
        self.counted = 0
        self.failed: BaseException | None = None

    def read(self, rows: int) -> None:
        """Report `rows` more records read (progress, cancellation)."""
        self.counted += rows
        self.raw.read(rows)

    @property
    def refusal(self) -> str:
        """Why the try was given up, in one line ("" when it was not)."""
        return first_line(self.failed) if self.failed is not None else ""


@contextmanager
def attempted(
    execute: Callable[[str], Any], raw: RawFile, refused: tuple[type[BaseException], ...] = (NotSimple,)
) -> Iterator[Attempt]:
    """Run a fast path under a savepoint. When it raises one of `refused`, roll back to the
    savepoint, give back the rows reported and set `Attempt.failed`; the error stops there
    (the backend then answers "not this file" or tries another way). Anything else goes on up."""
    attempt = Attempt(raw)
    execute("SAVEPOINT ingest_monitor_fast")
    try:
        yield attempt
    except refused as exc:
        execute("ROLLBACK TO SAVEPOINT ingest_monitor_fast")
        execute("RELEASE SAVEPOINT ingest_monitor_fast")
        if attempt.counted:
            raw.read(-attempt.counted)
        attempt.failed = exc
        return
    execute("RELEASE SAVEPOINT ingest_monitor_fast")


_DONE = object()


@contextmanager
def prefetched(produce: Callable[[], Iterable[Any]], depth: int = 4) -> Iterator[Iterator[Any]]:
    """Iterate `produce()` in a thread of its own, `depth` items ahead: the file is read
    and checked while the caller waits on the database (a socket wait releases the GIL).
    The producer's error is raised in the caller; leaving the block stops the producer."""
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in produce():
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the caller, raised there
            offer(exc)

    def consume() -> Iterator[Any]:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    worker = threading.Thread(target=run, name="fastpath-reader", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()
        worker.join()
