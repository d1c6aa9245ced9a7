"""Timing a command end to end: wall time and the peak resident set size of the process."""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timing:
    """One run of a command."""

    wall: float
    peak_rss_kb: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Exit code 0."""
        return self.returncode == 0


def run_timed(
    cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 7200,
    stdin: str | None = None,
) -> Timing:
    """Run `cmd` (reading `stdin`, when given); its wall time (from `wait4`) and its peak RSS
    (`VmHWM` in `/proc/<pid>/status`, read every 10 ms while it runs: the high-water mark of
    the program itself, not of the process it was forked from)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as given:
        given.write((stdin or "").encode())
        given.seek(0)
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err,
                                stdin=given if stdin is not None else subprocess.DEVNULL)
        done = threading.Event()
        peak = [0]
        watcher = threading.Thread(target=_watch_hwm, args=(proc.pid, done, peak), daemon=True)
        watcher.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            done.set()
            watcher.join()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Timing(wall, peak[0] or int(usage.ru_maxrss), proc.returncode,
                      out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def _watch_hwm(pid: int, done: threading.Event, peak: list[int]) -> None:
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
                    break
        except (OSError, ValueError):
            pass
        done.wait(0.01)


def median(values: Sequence[float]) -> float:
    """The median (nan for no values)."""
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (nan for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]
