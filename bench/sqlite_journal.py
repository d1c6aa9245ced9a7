"""Why the SQLite swap commits in steps in WAL mode rather than as one transaction across
`ref` and `bkp` in rollback-journal mode (which SQLite makes atomic across attached files
with a super-journal): in rollback-journal mode a reader's open transaction holds off the
writer's commit, and while that commit waits, new readers are refused. Prints what happens
in each mode with the daemon's SQLite library.

    python -m bench.sqlite_journal
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from monitor.backends.sqlite.csv_reader import driver_module


def attempt(folder: Path, mode: str) -> list[str]:
    """A writer commits to an attached file while a reader of that file has a transaction open."""
    sqlite = driver_module("sqlean")
    writer = sqlite.connect(str(folder / "main.db"), isolation_level=None)
    writer.execute(f"PRAGMA journal_mode = {mode}")
    writer.execute(f"ATTACH '{folder / 'ref.db'}' AS ref")
    writer.execute(f"PRAGMA ref.journal_mode = {mode}")
    writer.execute("CREATE TABLE ref.t (x)")
    writer.execute("INSERT INTO ref.t VALUES (1)")
    reader = sqlite.connect(str(folder / "ref.db"), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()
    writer.execute("PRAGMA busy_timeout = 0")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO ref.t VALUES (2)")
    said = []
    try:
        writer.execute("COMMIT")
        said.append(f"{mode}: the writer commits while a reader's transaction is open")
    except sqlite.OperationalError as exc:
        said.append(f"{mode}: the writer's commit while a reader's transaction is open: {exc}")
        late = sqlite.connect(str(folder / "ref.db"), isolation_level=None)
        try:
            late.execute("SELECT COUNT(*) FROM t").fetchall()
            said.append(f"{mode}: a new reader is answered meanwhile")
        except sqlite.OperationalError as late_exc:
            said.append(f"{mode}: a new reader meanwhile: {late_exc}")
        writer.execute("ROLLBACK")
    reader.execute("COMMIT")
    return said


def main() -> int:
    sqlite = driver_module("sqlean")
    print(f"SQLite {sqlite.sqlite_version}")
    for mode in ("DELETE", "WAL"):
        with tempfile.TemporaryDirectory() as folder:
            for line in attempt(Path(folder), mode):
                print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
