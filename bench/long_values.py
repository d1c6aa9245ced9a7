"""Peak memory of one load with very long values: `python -m bench.long_values [--out FILE]`.

Each file has 20 rows of a short key and one long value (a JSON blob or a base64 image as
they arrive), loaded by `ingest-monitor ingest` on SQLite and on PostgreSQL; the table says
the file's size, the longest value, the load's wall time and its peak RSS (`VmHWM`), beside
a file of the same rows with short values. The default `limits.max_record_chars` (4 Mi
characters) lets each of these values through.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import string
import tempfile
from pathlib import Path

from bench.databases import DEFAULT_PG_URL, PgServer
from bench.measure import run_timed
from bench.workspace import cli_env, make_workspace

ROWS = 20
CASES = [("short values", 100, "ascii"), ("2,000,000 characters", 2_000_000, "ascii"),
         ("2,000,000 characters, emoji", 2_000_000, "emoji"), ("4,000,000 characters", 4_000_000, "ascii")]


def write_file(path: Path, chars: int, kind: str) -> int:
    """`ROWS` rows of `id,value`, each value `chars` characters long; the file's size."""
    rng = random.Random(chars)
    alphabet = string.ascii_letters + string.digits + "+/"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("id,value\n")
        for number in range(ROWS):
            if kind == "emoji":
                value = "😀" * chars
            else:
                value = "".join(rng.choices(alphabet, k=1024)) * (chars // 1024) + "x" * (chars % 1024)
            out.write(f"{number},{value}\n")
    return path.stat().st_size


def measure(root: Path, url: str, path: Path) -> tuple[float, int, str]:
    """One `ingest` of `path` into a fresh table: (wall seconds, peak RSS in KiB, status)."""
    ws = make_workspace(root, url, table="blobs", pattern="*.csv")
    ws.run("init-db")
    timing = run_timed(ws.command("ingest", "--no-progress", str(path)), cwd=ws.root, env=cli_env())
    return timing.wall, timing.peak_rss_kb, "loaded" if timing.ok else f"exit {timing.returncode}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the Markdown table here too")
    args = parser.parse_args(argv)
    server = PgServer(os.environ.get("INGEST_TEST_PG", DEFAULT_PG_URL))
    lines = [f"Python {platform.python_version()}, PostgreSQL {server.version()}, {os.cpu_count()} cores", "",
             "| file | size | database | status | wall (s) | peak RSS (MB) |", "|---|---:|---|---|---:|---:|"]
    with tempfile.TemporaryDirectory(prefix="bench-long-") as scratch:
        base = Path(scratch)
        (base / "db").mkdir()
        for label, chars, kind in CASES:
            path = base / f"{kind}-{chars}.csv"
            size = write_file(path, chars, kind)
            with server.scratch() as dbname:
                targets = [("SQLite", f"sqlite:///{base / 'db' / (path.stem + '.db')}"),
                           ("PostgreSQL", server.dbname_url(dbname))]
                for database, url in targets:
                    wall, peak, status = measure(base / "ws", url, path)
                    lines.append(f"| {label} | {size / 1e6:.1f} MB | {database} | {status} | {wall:.1f} | "
                                 f"{peak / 1024:.0f} |")
                    print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
