"""The reference for a burst of small files: a shell loop running the database's own loader
once per file (`psql \\copy`, `sqlite3 .import`), on the same files as the daemon.

Each loop is one `bash` process (`for f in ...; do <tool> ...; done`) into a fresh all-text
table; its wall time is the time from the first file to the last loaded.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.databases import PgServer, sqlite_count, text_table_ddl
from bench.loads import REF_TABLE, header_of, quiet_disk
from bench.measure import run_timed
from bench.workspace import cli_env


@dataclass
class LoopResult:
    """A shell loop over the burst's files: the tool, seconds in all, rows it loaded."""

    tool: str
    seconds: float = 0.0
    files: int = 0
    rows: int = 0
    note: str = ""

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds if self.seconds and not self.note else 0.0


# A loop over the burst's files (already written), run before the daemon gets them.
Loop = Callable[[list[Path]], LoopResult]


def _loop(per_file: str, files: list[Path]) -> list[str]:
    """`bash -c 'for f in "$@"; do <per_file>; done' files...` (stops at the first failure)."""
    script = f'set -e; for f in "$@"; do {per_file}; done'
    return ["bash", "-c", script, "loop", *map(str, files)]


def psql_loop(server: PgServer) -> Loop:
    """`psql -c "\\copy bench_ref FROM 'file' CSV HEADER"` once per file, in a scratch database."""
    def run(files: list[Path]) -> LoopResult:
        result = LoopResult("psql \\copy loop")
        if shutil.which("psql") is None:
            result.note = "psql not installed"
            return result
        info = server.info
        with server.scratch() as dbname:
            server.execute(dbname, text_table_ddl(REF_TABLE, header_of(files[0])))
            psql = shlex.join(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", info.get("host", "127.0.0.1"),
                               "-p", str(info.get("port", "5432")), "-U", info.get("user", "postgres"),
                               "-d", dbname])
            env = cli_env()
            if info.get("password"):
                env["PGPASSWORD"] = info["password"]
            quiet_disk(server)
            timing = run_timed(_loop(f'{psql} -c "\\\\copy {REF_TABLE} FROM \'$f\' CSV HEADER"', files), env=env)
            result.seconds = timing.wall
            result.rows = server.count(dbname, REF_TABLE)
        result.files = len(files) if timing.ok else 0
        if not timing.ok:
            result.note = f"failed: {(timing.stderr or timing.stdout).strip()[-200:]}"
        return result
    return run


def sqlite_loop(work: Path) -> Loop:
    """`sqlite3 db ".import --csv --skip 1 file bench_ref"` once per file, into a fresh database."""
    def run(files: list[Path]) -> LoopResult:
        result = LoopResult("sqlite3 .import loop")
        if shutil.which("sqlite3") is None:
            result.note = "sqlite3 shell not installed"
            return result
        work.mkdir(parents=True, exist_ok=True)
        db = work / "ref.db"
        db.unlink(missing_ok=True)
        ddl = run_timed(["sqlite3", str(db), text_table_ddl(REF_TABLE, header_of(files[0]))])
        if not ddl.ok:
            result.note = f"failed: {ddl.stderr.strip()[-200:]}"
            return result
        quiet_disk()
        timing = run_timed(_loop(f'sqlite3 {shlex.quote(str(db))} ".import --csv --skip 1 $f {REF_TABLE}"',
                                 files))
        result.seconds = timing.wall
        result.rows = sqlite_count(db, REF_TABLE)
        result.files = len(files) if timing.ok else 0
        if not timing.ok:
            result.note = f"failed: {(timing.stderr or timing.stdout).strip()[-200:]}"
        return result
    return run
