"""The bench's tables, as printed and as written to `bench/results/<date>.md`."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.daemon_runs import Burst, Latency
from bench.loads import LoadResult
from bench.merge import MergeResult

# ingest-monitor's rows/s over the database's own loader's, per file: at or past it on a quiet
# machine whatever the file's shape, 0.9 with a core busy (`--busy`), a .zip against `unzip -p`
TARGETS = {"postgresql": ("psql \\copy", 1.0), "sqlite": ("sqlite3 .import", 1.0)}
BUSY_TARGETS = {"postgresql": ("psql \\copy", 0.9), "sqlite": ("sqlite3 .import", 0.9)}
ZIP_TARGETS = {"postgresql": ("psql \\copy", 1.0), "sqlite": ("sqlite3 .import", 0.9)}
RSS_LIMIT_MB = 300
SNAPSHOT_RSS_MB = 150  # issue 19: the full-size snapshot, plain and zipped


def goals_for(shape: str | None, busy: int) -> dict[str, tuple[str, float]]:
    """The targets of a load table: the plain or mixed-shape file (`shape` None or "mixed"), or the .zip."""
    if shape == "zip":
        return ZIP_TARGETS
    return BUSY_TARGETS if busy else TARGETS


def _num(value: float, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (also readable as plain text)."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "| " + " | ".join("-" * w for w in widths) + " |", *(line(r) for r in rows)])


def loads_table(results: Sequence[LoadResult]) -> str:
    """Per backend and tool: rows/s, MB/s, peak RSS, wall time, and ingest-monitor's ratio to it."""
    ours = {r.backend: r for r in results if r.tool == "ingest-monitor"}
    rows = []
    for r in results:
        mine = ours.get(r.backend)
        if r.tool == "ingest-monitor":
            ratio = "1.00"
        elif mine and mine.ok and r.ok and r.rows_per_s:
            ratio = f"{mine.rows_per_s / r.rows_per_s:.2f}"
        else:
            ratio = "n/a"
        rows.append([r.backend, r.tool, _num(r.rows), _num(r.rows_per_s), _num(r.mb_per_s, 1),
                     _num(r.peak_rss_kb / 1024, 0), _num(r.wall, 2), ratio,
                     r.note or ("ok" if r.ok else f"loaded {r.loaded}")])
    return table(["backend", "tool", "rows", "rows/s", "MB/s", "peak RSS MB", "wall s", "ingest-monitor ÷ tool",
                  "check"], rows)


def targets(results: Sequence[LoadResult], goals: dict[str, tuple[str, float]] = TARGETS) -> list[str]:
    """The throughput targets, each with its measured ratio and whether it is met (the
    reference tool may read through a pipe: `unzip -p into psql \\copy`, `unzip -p FILE | psql`)."""
    lines = []
    ours = {r.backend: r for r in results if r.tool == "ingest-monitor"}
    for backend, (name, goal) in goals.items():
        mine = ours.get(backend)
        ref = next((r for r in results if r.backend == backend and r.tool.endswith(name)), None)
        tool = ref.tool if ref else name
        if not mine or not ref:
            continue
        if mine.ok and ref.ok and ref.rows_per_s:
            ratio = mine.rows_per_s / ref.rows_per_s
            lines.append(f"{backend}: ingest-monitor at {ratio:.2f} of {tool} rows/s "
                         f"(target >= {goal}: {'met' if ratio >= goal else 'NOT met'})")
        else:
            lines.append(f"{backend}: no ratio to {tool} ({ref.note or mine.note or 'incomplete run'})")
    for r in results:
        if r.tool == "pandas.to_sql" and r.ok and ours.get(r.backend) and ours[r.backend].ok and r.rows_per_s:
            lines.append(f"{r.backend}: ingest-monitor at {ours[r.backend].rows_per_s / r.rows_per_s:.1f}x "
                         f"pandas.to_sql rows/s")
    return lines


def latency_table(results: Sequence[Latency]) -> str:
    """Detection latency: median and p99, to processing start and to `loaded`."""
    rows = [[r.backend, _num(r.settle, 1), str(len(r.to_start)), _num(r.start_median, 2), _num(r.start_p99, 2),
             _num(r.loaded_median, 2), _num(r.loaded_p99, 2),
             f"{'met' if r.met else 'NOT met'} (< {r.settle + 1:.1f} s)" + (f"; {r.note}" if r.note else "")]
            for r in results]
    return table(["backend", "settle s", "files", "to start: median s", "p99 s", "to loaded: median s", "p99 s",
                  "target: median to start"], rows)


def burst_table(results: Sequence[Burst]) -> str:
    """The burst: files per second until all are loaded, the loop of the database's own
    loader on the same files, the ratio, and the median from the drop to `loaded`."""
    rows = []
    for r in results:
        loop = r.loop
        rows.append([r.backend, _num(r.files), _num(r.rows_per_file), str(r.workers), _num(r.settle, 1),
                     _num(r.seconds, 1), _num(r.files_per_s, 1), _num(r.loaded_median, 1),
                     loop.tool if loop else "not run", _num(loop.seconds, 1) if loop else "",
                     _num(loop.files_per_s, 1) if loop else "", f"{r.ratio:.2f}x" if r.ratio else "n/a",
                     "; ".join(n for n in (r.note, loop.note if loop else "") if n) or "ok"])
    return table(["backend", "files", "rows each", "workers", "settle s", "seconds", "files/s",
                  "drop to loaded: median s", "loop", "loop s", "loop files/s", "daemon / loop", "check"], rows)


def sets_table(results: Sequence[LoadResult]) -> str:
    """The set and the one file per backend: files, MB, wall time, rows/s, and the set's time
    as a share of the one file's."""
    one = {r.backend: r for r in results if r.tool == "one file"}
    rows = []
    for r in results:
        base = one.get(r.backend)
        ratio = f"{r.wall / base.wall:.2f}" if base and base.ok and r.ok and base.wall else "n/a"
        rows.append([r.backend, r.tool, _num(r.rows), _num(r.size_bytes / 1e6, 0), _num(r.wall, 2),
                     _num(r.rows_per_s), ratio, r.note or ("ok" if r.ok else f"loaded {r.loaded}")])
    return table(["backend", "loaded as", "rows", "MB", "wall s", "rows/s", "wall ÷ one file's", "check"], rows)


def memory_table(results: Sequence[LoadResult]) -> str:
    """Peak RSS of `ingest-monitor ingest` beside the file size."""
    rows = [[r.backend, _num(r.rows), _num(r.size_bytes / 1e6, 0), _num(r.peak_rss_kb / 1024, 0),
             _num(r.wall, 1), r.note or ("ok" if r.ok else f"loaded {r.loaded}")] for r in results]
    return table(["backend", "rows", "file MB", "peak RSS MB", "wall s", "check"], rows)


def memory_verdict(results: Sequence[LoadResult]) -> list[str]:
    """Peak RSS under the limit, and how it moves with the file size, per backend."""
    lines = []
    for backend in sorted({r.backend for r in results}):
        runs = sorted((r for r in results if r.backend == backend and r.ok), key=lambda r: r.size_bytes)
        if not runs:
            continue
        peak = max(r.peak_rss_kb for r in runs) / 1024
        small, large = runs[0], runs[-1]
        growth = (large.peak_rss_kb - small.peak_rss_kb) / 1024
        lines.append(
            f"{backend}: peak RSS {peak:.0f} MB at most (limit {RSS_LIMIT_MB} MB: "
            f"{'met' if peak < RSS_LIMIT_MB else 'NOT met'}); from {small.size_bytes / 1e6:.0f} MB to "
            f"{large.size_bytes / 1e6:.0f} MB of file it moved {growth:+.0f} MB"
        )
    return lines


def snapshot_table(results: Sequence[LoadResult]) -> str:
    """The full-size snapshot by `ingest-monitor ingest`, plain and zipped: rows/s, peak RSS, wall time."""
    rows = [[r.backend, r.tool, _num(r.rows), _num(r.size_bytes / 1e6, 0), _num(r.rows_per_s),
             _num(r.peak_rss_kb / 1024, 0), _num(r.wall, 1), r.note or ("ok" if r.ok else f"loaded {r.loaded}")]
            for r in results]
    return table(["backend", "file", "rows", "file MB", "rows/s", "peak RSS MB", "wall s", "check"], rows)


def snapshot_verdict(results: Sequence[LoadResult]) -> list[str]:
    """Every snapshot load complete with its peak RSS under `SNAPSHOT_RSS_MB`."""
    peak = max((r.peak_rss_kb for r in results), default=0) / 1024
    done = all(r.ok for r in results)
    met = done and peak < SNAPSHOT_RSS_MB
    return [f"every row loaded: {'yes' if done else 'NO'}; peak RSS {peak:.0f} MB at most "
            f"(target < {SNAPSHOT_RSS_MB} MB: {'met' if met else 'NOT met'})"]


def merge_table(results: Sequence[MergeResult], expected: tuple[int, int]) -> str:
    """The merge: wall time per backend and tool, rows inserted and updated, and the ratio of
    ingest-monitor's throughput to the by-hand run's."""
    ours = {r.backend: r for r in results if r.tool == "ingest-monitor"}
    rows = []
    for r in results:
        mine = ours.get(r.backend)
        ok = r.ok(expected)
        if r.tool == "ingest-monitor":
            ratio = "1.00"
        elif mine and mine.ok(expected) and ok and mine.wall:
            ratio = f"{r.wall / mine.wall:.2f}"
        else:
            ratio = "n/a"
        rows.append([r.backend, r.tool, _num(r.table_rows), _num(r.export_rows), _num(r.inserted), _num(r.updated),
                     _num(r.export_rows / r.wall if r.wall else 0), _num(r.wall, 2), ratio,
                     r.note or ("ok" if ok else "wrong counts")])
    return table(["backend", "tool", "table rows", "export rows", "inserted", "updated", "export rows/s", "wall s",
                  "ingest-monitor ÷ tool", "check"], rows)
