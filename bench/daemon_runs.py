"""The daemon under way: detection latency and a burst of small files.

Both start the real daemon (`ingest-monitor run`) on a fresh workspace, load one
warm-up file (so start-up is not counted), then drop files and read the audit tables.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from bench.burst_loops import Loop, LoopResult
from bench.generate import enrichment_files
from bench.measure import median, percentile
from bench.workspace import Workspace, make_workspace, stop_daemon
from monitor.demo.enrichment import ENRICHMENT_HEADER, enrichment_rows

TABLE = "contacts"


@dataclass
class Latency:
    """Detection latency on one backend: per file, seconds from its last write (mtime)
    to its claim (processing start) and to its `loaded` state."""

    backend: str
    settle: float
    files: int
    to_start: list[float] = field(default_factory=list)
    to_loaded: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def start_median(self) -> float:
        return median(self.to_start)

    @property
    def start_p99(self) -> float:
        return percentile(self.to_start, 99)

    @property
    def loaded_median(self) -> float:
        return median(self.to_loaded)

    @property
    def loaded_p99(self) -> float:
        return percentile(self.to_loaded, 99)

    @property
    def met(self) -> bool:
        """Median detection (to processing start) under settle + 1 s."""
        return bool(self.to_start) and self.start_median < self.settle + 1.0


@dataclass
class Burst:
    """Many small files dropped at once: files per second until every one is `loaded`."""

    backend: str
    files: int
    rows_per_file: int
    workers: int
    settle: float
    seconds: float = 0.0
    loaded: int = 0
    note: str = ""
    to_loaded: list[float] = field(default_factory=list)  # per file, seconds from the drop to `loaded`
    loop: LoopResult | None = None  # the database's own loader once per file, on the same files

    @property
    def files_per_s(self) -> float:
        return self.loaded / self.seconds if self.seconds else 0.0

    @property
    def loaded_median(self) -> float:
        return median(self.to_loaded)

    @property
    def ratio(self) -> float:
        """The daemon's files/s over the loop's (0 when either did not finish)."""
        loop = self.loop.files_per_s if self.loop else 0.0
        return self.files_per_s / loop if loop and not self.note else 0.0


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _wait(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # the daemon may still be creating its tables
            pass
        time.sleep(interval)
    return False


def _start(ws: Workspace, warmup: Path, timeout: float) -> tuple[subprocess.Popen, Engine]:
    ws.run("init-db")
    proc = ws.start_daemon()
    engine = ws.engine()
    shutil.copyfile(warmup, ws.folder / "warmup.csv")
    if not _wait(lambda: ws.loaded_count(engine) >= 1, timeout):
        stop_daemon(proc)
        engine.dispose()
        raise RuntimeError(f"the daemon did not load its warm-up file; see {ws.root / 'daemon.log'}")
    return proc, engine


def _write_small(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ENRICHMENT_HEADER)
        writer.writerows(rows)


def detection_latency(backend: str, url: str, work: Path, *, settle: float, files: int, gap: float = 0.25,
                      timeout: float = 300) -> Latency:
    """Write `files` files straight into the watched folder, `gap` seconds apart, with the
    daemon running; per file, from its mtime to its claim and to its `loaded` state."""
    result = Latency(backend, settle, files)
    ws = make_workspace(work, url, table=TABLE, pattern="*.csv", settle=settle, workers=4)
    data = enrichment_rows(100 * (files + 1), seed=7)
    warm = work / "warmup-src.csv"
    _write_small(warm, [next(data) for _ in range(100)])
    proc, engine = _start(ws, warm, timeout)
    try:
        mtimes: dict[str, float] = {}
        for index in range(files):
            path = ws.folder / f"latency-{index:04d}.csv"
            _write_small(path, [next(data) for _ in range(100)])
            mtimes[path.name] = os.stat(path).st_mtime
            time.sleep(gap)
        if not _wait(lambda: ws.loaded_count(engine) >= files + 1, timeout):
            result.note = f"only {ws.loaded_count(engine) - 1} of {files} loaded within {timeout:.0f} s"
        for row in ws.audit(engine):
            mtime = mtimes.get(row["file_name"])
            if mtime is None or row["status"] != "loaded":
                continue
            written = _naive_utc(mtime)
            result.to_start.append((row["claimed_at"] - written).total_seconds())
            result.to_loaded.append((row["finished_at"] - written).total_seconds())
    finally:
        stop_daemon(proc)
        engine.dispose()
    return result


def burst(backend: str, url: str, work: Path, *, files: int, rows: int, workers: int, settle: float,
          timeout: float = 1800, loop: Loop | None = None) -> Burst:
    """Move `files` ready-made files (`rows` rows each) into the watched folder at once;
    seconds from the first move until every one is `loaded` (settle time included), and per
    file from the drop to `loaded`. `loop` first loads the same files the database's own way."""
    result = Burst(backend, files, rows, workers, settle)
    ws = make_workspace(work, url, table=TABLE, pattern="*.csv", settle=settle, workers=workers,
                        queue_size=max(1000, files))
    staged = enrichment_files(work / "staged", files, rows, seed=11)
    if loop is not None:
        result.loop = loop(staged)
    warm = work / "warmup-src.csv"
    _write_small(warm, [["warm", "up", *[""] * (len(ENRICHMENT_HEADER) - 2)]])
    proc, engine = _start(ws, warm, timeout)
    try:
        dropped = _naive_utc(time.time())
        start = time.perf_counter()
        for path in staged:
            os.replace(path, ws.folder / path.name)
        done = _wait(lambda: ws.loaded_count(engine) >= files + 1, timeout, interval=0.1)
        result.seconds = time.perf_counter() - start
        result.loaded = ws.loaded_count(engine) - 1
        if not done:
            result.note = f"only {result.loaded} of {files} loaded within {timeout:.0f} s"
        result.to_loaded = [(row["finished_at"] - dropped).total_seconds() for row in ws.audit(engine)
                            if row["status"] == "loaded" and row["file_name"] != "warmup.csv"]
    finally:
        stop_daemon(proc)
        engine.dispose()
    return result
