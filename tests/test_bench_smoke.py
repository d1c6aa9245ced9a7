"""The benchmark end to end at a tiny size, so it keeps working: every section runs on
SQLite and PostgreSQL, the table is printed and the results file written. Timings are
reported, never asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import PG_ADMIN_URL, cli_env

from bench.run import _without_passwords

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_run_prints_the_table_and_writes_the_results(tmp_path):
    results = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--rows", "2000", "--quick", "--burst-files", "12",
         "--pg-url", PG_ADMIN_URL, "--results-dir", str(results), "--workdir", str(tmp_path / "work")],
        cwd=tmp_path, env=cli_env(PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    written = list(results.glob("*.md"))
    assert len(written) == 1
    text = written[0].read_text()
    assert text in run.stdout  # the same report is printed
    for heading in ("## Loads: 2,000 rows", "## Detection latency", "## Burst of small files", "## Memory",
                    "## A 7-part snapshot set against the same rows as one file"):
        assert heading in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for backend, tool in [("sqlite", "ingest-monitor"), ("sqlite", "sqlite3 .import"), ("sqlite", "pandas.to_sql"),
                          ("postgresql", "ingest-monitor"), ("postgresql", "psql \\copy"),
                          ("postgresql", "pandas.to_sql")]:
        line = next((r for r in rows if r.startswith(f"| {backend} ") and f" {tool} " in r), None)
        assert line is not None, f"no row for {backend} / {tool}"
        assert line.rstrip(" |").endswith("ok"), line  # every tool loaded all 2,000 rows
    assert "ingest-monitor at" in text and "of psql \\copy rows/s" in text and "of sqlite3 .import rows/s" in text
    latency = [r for r in rows if r.startswith(("| sqlite ", "| postgresql ")) and "(< 1.5 s)" in r]
    assert len(latency) == 2
    burst = [r for r in rows if "| 12 " in r and r.rstrip(" |").endswith("ok")]
    assert len(burst) == 2  # every burst file loaded, on both backends
    for backend in ("sqlite", "postgresql"):
        for how in ("one file", "7-part set"):
            line = next((r for r in rows if r.startswith(f"| {backend} ") and f"| {how} " in r), None)
            assert line is not None and line.rstrip(" |").endswith("ok"), (backend, how, line)
    merge = text[text.index("## Merge: a 2,000-row export into a 2,000-row table"):]
    merged = [r for r in merge.splitlines() if r.startswith(("| sqlite ", "| postgresql "))]
    assert len(merged) == 4 and all(r.rstrip(" |").endswith("ok") for r in merged), merged  # 200 in, 200 updated


def test_the_results_file_shows_urls_without_their_passwords() -> None:
    shown = _without_passwords(["--mssql-url", "mssql+pyodbc://loader:s3cr:et@127.0.0.1/master?driver=FreeTDS",
                                "--pg-url", "postgresql://postgres@127.0.0.1/test", "--rows", "2000"])
    assert shown == ["--mssql-url", "mssql+pyodbc://loader:***@127.0.0.1/master?driver=FreeTDS",
                     "--pg-url", "postgresql://postgres@127.0.0.1/test", "--rows", "2000"]
