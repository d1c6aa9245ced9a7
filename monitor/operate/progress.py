"""Progress of a load in flight: an estimate of its size, rates and ETA, and a terminal bar.

The pipeline counts rows as they are read (`Pipeline.in_flight`); the total is
estimated once per file from its uncompressed size and the bytes per record in
its first megabyte, so progress costs nothing on the load's hot path.
"""

from __future__ import annotations

import os
import shutil
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from monitor.source import compression_of, open_binary, open_zip

SAMPLE_BYTES = 1 << 20
BAR_MIN_BYTES = 1 << 20  # files smaller than this load too fast to need a bar
MB = 1_000_000


@dataclass(frozen=True)
class Estimate:
    """How big a file's content is, and how many records it holds (estimated)."""

    content_bytes: int
    bytes_per_row: float
    rows: int


def content_size(path: Path) -> int:
    """The uncompressed size of a file's CSV content (zip: the member's, gzip: the trailer's)."""
    kind = compression_of(path)
    size = path.stat().st_size
    if kind == "zip":
        with open_zip(path) as archive:  # its entries counted first (`limits.max_zip_members`)
            members = [info for info in archive.infolist() if not info.is_dir()]
            return max((info.file_size for info in members), default=size)
    if kind == "gzip" and size >= 4:
        with path.open("rb") as handle:
            handle.seek(-4, 2)
            isize = struct.unpack("<I", handle.read(4))[0]
        while isize < size:  # ISIZE is the size modulo 2**32
            isize += 1 << 32
        return isize
    return size


def estimate(path: Path) -> Estimate | None:
    """Estimate the records in `path` (None when it cannot be read)."""
    try:
        total = content_size(path)
        with open_binary(path) as stream:
            sample = stream.read(SAMPLE_BYTES)
    except Exception:  # unreadable files are the pipeline's to report, not ours
        return None
    lines = sample.count(b"\n") + (0 if sample.endswith(b"\n") else 1)
    if not sample or lines < 1:
        return None
    per_row = len(sample) / lines
    rows = lines - 1 if len(sample) >= total else max(round(total / per_row) - 1, lines - 1)
    return Estimate(total, per_row, max(rows, 0))


@dataclass(frozen=True)
class Reading:
    """A load's progress at one moment."""

    rows: int
    elapsed: float
    fraction: float | None
    mb_per_s: float | None
    eta_seconds: float | None


def measure(rows: int, elapsed: float, est: Estimate | None, *, done: bool = False) -> Reading:
    """Progress from rows read so far, the time taken and the size estimate."""
    if est is None:
        return Reading(rows, elapsed, 1.0 if done else None, None, None)
    fraction = 1.0 if done else min(rows / est.rows, 0.99) if est.rows else None
    rate = rows * est.bytes_per_row / elapsed / MB if elapsed > 0 else None
    eta = None
    if not done and rows and fraction is not None and elapsed > 0:
        eta = max(est.rows - rows, 0) / (rows / elapsed)
    return Reading(rows, elapsed, fraction, rate, 0.0 if done else eta)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def render(name: str, reading: Reading, width: int = 100, *, done: bool = False, phase: str = "loading") -> str:
    """One line: name, bar, percent, rows, MB/s and ETA (or the time taken when done; the
    phase, such as `committing` or `archiving`, once the rows are read)."""
    pct = "  ?%" if reading.fraction is None else f"{reading.fraction * 100:3.0f}%"
    rate = "  -- MB/s" if reading.mb_per_s is None else f"{reading.mb_per_s:6.1f} MB/s"
    if done:
        tail = f"in {reading.elapsed:.1f}s"
    else:
        tail = f"ETA {_clock(reading.eta_seconds)}" if phase == "loading" else phase
    stats = f" {pct} {reading.rows:>11,} rows {rate} {tail}"
    room = max(width - len(stats) - 4, 20)
    label = name if len(name) <= room // 2 else name[: room // 2 - 1] + "~"
    cells = max(room - len(label), 10)
    filled = int(cells * (reading.fraction or 0))
    return f"{label} [{'#' * filled}{'.' * (cells - filled)}]{stats}"


class ProgressBar:
    """Redraws one line on a terminal while a load runs, from a live row counter."""

    def __init__(self, stream: TextIO, name: str, path: Path, interval: float = 0.2) -> None:
        self.stream = stream
        self.name = name
        self.estimate = estimate(path)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    @staticmethod
    def wanted(stream: TextIO, path: Path) -> bool:
        """A bar for a large file on a terminal; never when output is piped or logged."""
        try:
            return stream.isatty() and path.stat().st_size >= BAR_MIN_BYTES
        except (OSError, ValueError):
            return False

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns - 1
        except (OSError, ValueError, AttributeError):
            return shutil.get_terminal_size((100, 24)).columns - 1

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()

    def start(self, sample: Callable[[], tuple[int, str]]) -> None:
        """Redraw every `interval` seconds with `sample()` (records read, phase) until `finish`."""
        self._started = time.monotonic()

        def loop() -> None:
            while not self._stop.wait(self.interval):
                rows, phase = sample()
                reading = measure(rows, time.monotonic() - self._started, self.estimate)
                self._draw(render(self.name, reading, self._width(), phase=phase))

        self._thread = threading.Thread(target=loop, name="progress", daemon=True)
        self._thread.start()

    def finish(self, rows: int) -> None:
        """Stop redrawing and leave the final line (100%, rows, rate, time taken)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        reading = measure(rows, time.monotonic() - self._started, self.estimate, done=True)
        self._draw(render(self.name, reading, self._width(), done=True))
        self.stream.write("\n")
        self.stream.flush()
