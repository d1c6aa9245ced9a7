"""A compressed file's records handed to SQLite's CSV reader through a named pipe.

SQLite's `vsv` reads a file by its name, so a `.zip` or `.gz` member would otherwise take the
Python path. Here a thread expands the member (through `monitor.source`, under the same
expansion limits as every reader) and writes its bytes, header and skipped lines left out, into
a FIFO that `vsv` reads as an ordinary file: nothing is extracted to disk, memory stays one
chunk. Where the platform has no FIFO (Windows), `available()` says so and the caller reads the
file in Python as before."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from monitor.backends.target import RawFile
from monitor.source import open_binary

CHUNK = 1 << 20


def available() -> bool:
    """Whether this platform has named pipes."""
    return hasattr(os, "mkfifo")


def _skip_lines(stream: BinaryIO, count: int) -> bytes:
    """Read past `count` line ends; the bytes read beyond the last one."""
    rest = b""
    while count:
        chunk = stream.read(CHUNK)
        if not chunk:
            return b""
        rest += chunk
        while count and (end := rest.find(b"\n")) >= 0:
            rest, count = rest[end + 1:], count - 1
    return rest


class _Feeder(threading.Thread):
    """Writes the expanded records into the pipe; its error, if any, kept for the caller."""

    def __init__(self, raw: RawFile, fifo: Path) -> None:
        super().__init__(name="sqlite-fifo-feed", daemon=True)
        self.raw, self.fifo = raw, fifo
        self.error: BaseException | None = None

    def run(self) -> None:
        fmt = self.raw.fmt
        try:
            with open_binary(self.raw.path, self.raw.name or None, fmt.limits) as stream, \
                    open(self.fifo, "wb") as out:
                out.write(_skip_lines(stream, fmt.skip + 1))
                shutil.copyfileobj(stream, out, CHUNK)
        except BrokenPipeError:  # the reader stopped early: its own error says why
            pass
        except BaseException as exc:  # handed to the loading thread
            self.error = exc

    def stop(self) -> None:
        """Unblock a writer still waiting for its reader (the statement never read), then wait."""
        if self.is_alive():
            with contextlib.suppress(OSError):
                os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
        self.join()


@contextlib.contextmanager
def records_pipe(raw: RawFile) -> Iterator[tuple[Path, _Feeder]]:
    """A FIFO fed with `raw`'s records (no header), and its feeder; both gone afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ingest-monitor-fifo-"))
    fifo = folder / "records.csv"
    os.mkfifo(fifo, 0o600)
    feeder = _Feeder(raw, fifo)
    feeder.start()
    try:
        yield fifo, feeder
    finally:
        feeder.stop()
        shutil.rmtree(folder, ignore_errors=True)
