"""The results file of `python -m bench` (`bench/results/<date>.md`): the machine and the
tools' versions, then a table and the verdicts of each section run."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from datetime import datetime
from typing import TYPE_CHECKING

from bench import merge, report
from bench.databases import sqlite_version
from bench.mssql import describe, verdicts
from monitor.demo.ch_parts import PARTS

if TYPE_CHECKING:
    from bench.run import Bench

SHAPES = {  # the loads' other files (`--skip mixed,zip` leaves them out)
    "mixed": "the mixed-shape file (a third of the records with a line break inside a quoted field, some \"\" escapes)",
    "zip": "the benchmark file as a .zip (the form Companies House ships)",
}


def shell_version(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.split()[0] if cmd[0] == "sqlite3" and out else out


def pandas_version() -> str:
    try:
        import pandas
    except ImportError:
        return "not installed"
    return str(pandas.__version__)


def loadavg() -> str:
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "?"


def results_markdown(bench: Bench, command: str, started: datetime, seconds: float, loads_before: str) -> str:
    """The results file of a run: the machine, then each section measured."""
    pg = bench.server.version() if "postgresql" in bench.backends else "not run"
    parts = [
        f"# ingest-monitor benchmark, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` ({seconds:.0f} s in all).",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, load average {loads_before} at the start "
        f"and {loadavg()} at the end; Python {platform.python_version()}, SQLite library {sqlite_version()}, "
        f"sqlite3 shell {shell_version(['sqlite3', '--version'])}, PostgreSQL server {pg}, "
        f"{shell_version(['psql', '--version'])}, pandas {pandas_version()}.",
        "",
        *([f"Another job shared the machine: {bench.args.busy} process(es) spinning a core each for the "
           "whole run (`--busy`).", ""] if bench.args.busy else []),
        "Every tool loads the same file in the same run; ratios matter more than absolute numbers "
        "(the machine may be shared). ingest-monitor is timed end to end through `ingest-monitor ingest` "
        "(start-up, hash, claim, read, load, audit, archive move); peak RSS is the process's own "
        "(for psql the server does the work).",
    ]
    if bench.loads:
        repeat = bench.args.repeat
        best = f"best of {repeat} interleaved runs per tool" if repeat > 1 else "one run per tool"
        parts += ["", f"## Loads: {bench.args.rows:,} rows, 55 columns ({best})", "",
                  report.loads_table(bench.loads), "",
                  *[f"- {line}" for line in report.targets(bench.loads, report.goals_for(None, bench.args.busy))]]
    for shape, results in bench.shape_loads.items():
        parts += ["", f"## Loads: {bench.args.rows:,} rows, {SHAPES[shape]} (the same run)", "",
                  report.loads_table(results), "",
                  *[f"- {line}" for line in report.targets(results, report.goals_for(shape, bench.args.busy))]]
    if bench.mssql_loads:
        assert bench.mssql is not None
        repeat = bench.args.repeat
        best = f"best of {repeat} runs per tool" if repeat > 1 else "one run per tool"
        parts += ["", f"## SQL Server loads: {bench.args.mssql_rows:,} rows, 55 columns ({best})", "",
                  describe(bench.mssql), "", report.loads_table(bench.mssql_loads), "",
                  *[f"- {line}" for line in verdicts(bench.mssql_loads)]]
    if bench.latency:
        parts += ["", "## Detection latency", "", report.latency_table(bench.latency)]
    if bench.bursts:
        parts += ["", "## Burst of small files", "", report.burst_table(bench.bursts)]
    if bench.memory:
        parts += ["", "## Memory", "", report.memory_table(bench.memory), "",
                  *[f"- {line}" for line in report.memory_verdict(bench.memory)]]
    if bench.snapshot:
        parts += ["", f"## The full-size snapshot: {bench.args.big_rows:,} rows, plain and zipped", "",
                  report.snapshot_table(bench.snapshot), "",
                  *[f"- {line}" for line in report.snapshot_verdict(bench.snapshot)]]
    if bench.sets:
        parts += ["", f"## A {PARTS}-part snapshot set against the same rows as one file", "",
                  report.sets_table(bench.sets)]
    if bench.merges:
        rows = bench.merges[0].table_rows
        repeat = bench.args.repeat
        best = f"best of {repeat} interleaved runs per tool" if repeat > 1 else "one run per tool"
        parts += ["", f"## Merge: a {rows:,}-row export into a {rows:,}-row table, 10 % changed, 10 % new "
                  f"({best})", "", report.merge_table(bench.merges, merge.expected(rows))]
    return "\n".join(parts) + "\n"
