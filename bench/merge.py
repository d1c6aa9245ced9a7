"""Merge: an enrichment export merged on its e-mail key into a table of as many rows, by
`ingest-monitor ingest` end to end and by hand: the database's own bulk tool (`psql \\copy`,
the `sqlite3` shell's `.import`) filling a staging table, then the same statements
(`monitor.backends.merging`: superseded rows dropped, history kept, `UPDATE ... FROM`,
`INSERT ... WHERE NOT EXISTS`) in one transaction.

The table holds N rows; the export has N rows: 10 % of the table's rows changed (a new
title), 10 % new keys, the rest unchanged; the first 10 % of the table is not in the export.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.databases import PgServer
from bench.loads import header_of, quiet_disk
from bench.measure import run_timed
from bench.workspace import cli_env, make_workspace
from monitor.backends import backend_class
from monitor.backends.merging import MergePlan, MergeSql, Place
from monitor.catalog import LOAD_ID_COLUMN, REPLACED_AT_COLUMN, REPLACED_BY_COLUMN
from monitor.demo.enrichment import ENRICHMENT_HEADER, enrichment_rows
from monitor.load.read.naming import normalise_header

TABLE = "contacts"
KEY = "email"
EMAIL = ENRICHMENT_HEADER.index("Email")
TITLE = ENRICHMENT_HEADER.index("Title")
BY_HAND = {"postgresql": "psql \\copy + SQL", "sqlite": "sqlite3 .import + SQL"}


@dataclass
class MergeResult:
    """One tool's best run on one backend."""

    backend: str
    tool: str
    table_rows: int
    export_rows: int
    wall: float
    inserted: int
    updated: int
    note: str = ""

    def ok(self, expected: tuple[int, int]) -> bool:
        """The merge inserted and updated what the export holds."""
        return (self.inserted, self.updated) == expected


def files(folder: Path, rows: int, seed: int = 1) -> tuple[Path, Path]:
    """(the table's rows, the export) as CSV files, generated once per size."""
    base, export = folder / f"contacts-base-{rows}.csv", folder / f"contacts-export-{rows}.csv"
    if base.exists() and export.exists():
        return base, export
    folder.mkdir(parents=True, exist_ok=True)
    tenth = rows // 10
    with base.open("w", newline="", encoding="utf-8") as b, export.open("w", newline="", encoding="utf-8") as e:
        base_out, export_out = csv.writer(b, lineterminator="\n"), csv.writer(e, lineterminator="\n")
        base_out.writerow(ENRICHMENT_HEADER)
        export_out.writerow(ENRICHMENT_HEADER)
        for index, row in enumerate(enrichment_rows(rows + tenth, seed)):
            row[EMAIL] = f"contact{index:08d}@example.com"
            if index < rows:
                base_out.writerow(row)
            if index >= rows - tenth:
                row[TITLE] = f"{row[TITLE]} (changed)" if index < rows else row[TITLE]
            if index >= tenth:
                export_out.writerow(row)
    return base, export


def expected(rows: int) -> tuple[int, int]:
    """(inserted, updated) of a correct merge."""
    return rows // 10, rows // 10


def statements(backend: str, columns: list[str], history: Place) -> MergeSql:
    """The statements ingest-monitor runs, for a staging table `contacts__merge_2`."""
    cls = backend_class(backend)
    plan = MergePlan(Place(None, TABLE), cls.staging_of(None, TABLE, 2), history, [KEY], columns, columns, 2)
    quote = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    return cls.merge_sql(quote, plan)


def _script(sql: MergeSql) -> list[str]:
    return [sql.superseded_keys(), sql.drop_superseded(), sql.keep_history(), sql.update(), sql.insert()]


def _ddl(table: str, columns: list[str], extra: str = "") -> str:
    return f'CREATE TABLE {table} ({", ".join(f"{_q(c)} TEXT" for c in columns)}{extra})'


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _history_ddl(table: str, columns: list[str]) -> str:
    extra = f", {LOAD_ID_COLUMN} BIGINT, {REPLACED_BY_COLUMN} BIGINT, {REPLACED_AT_COLUMN} TIMESTAMP"
    return _ddl(table, columns, extra)


# -- ingest-monitor ---------------------------------------------------------------------
def ingest_monitor(backend: str, url: str, work: Path, base: Path, export: Path, rows: int,
                   server: PgServer | None = None) -> MergeResult:
    """`ingest-monitor ingest` of the export into a table the base file filled (untimed)."""
    ws = make_workspace(work, url, table=TABLE, pattern="contacts-*", mode="merge", settle=0.5,
                        key_columns=["Email"])
    ws.run("init-db")
    for path in (base, export):
        shutil.copyfile(path, ws.folder / path.name)
    ws.run("ingest", str(ws.folder / base.name))
    quiet_disk(server)
    timing = run_timed(ws.command("ingest", str(ws.folder / export.name)), cwd=ws.root, env=cli_env())
    tool = "ingest-monitor"
    if not timing.ok:
        return MergeResult(backend, tool, rows, rows, timing.wall, 0, 0, f"failed: {timing.stderr.strip()[-200:]}")
    engine = ws.engine()
    try:
        audit = [r for r in ws.audit(engine) if r["file_name"] == export.name]
    finally:
        engine.dispose()
    record = audit[0] if audit else {}
    return MergeResult(backend, tool, rows, rows, timing.wall, int(record.get("rows_inserted") or 0),
                       int(record.get("rows_updated") or 0), "" if record.get("status") == "loaded" else "not loaded")


# -- by hand ----------------------------------------------------------------------------
def psql_by_hand(server: PgServer, dbname: str, work: Path, base: Path, export: Path, rows: int) -> MergeResult:
    """`\\copy` into a temporary staging table, then the statements, in one psql transaction."""
    tool = BY_HAND["postgresql"]
    if shutil.which("psql") is None:
        return MergeResult("postgresql", tool, rows, rows, 0.0, 0, 0, "psql not installed")
    columns = normalise_header(header_of(export))
    names = ", ".join(_q(c) for c in columns)
    server.execute(dbname, _ddl(TABLE, columns, f", {LOAD_ID_COLUMN} BIGINT"))
    server.execute(dbname, f"CREATE UNIQUE INDEX ux_contacts__key ON {TABLE} ({KEY})")
    server.execute(dbname, "CREATE SCHEMA bkp")
    server.execute(dbname, _history_ddl("bkp.contacts__history", columns))
    psql = _psql(server, dbname)
    fill = run_timed([*psql, "-c", f"\\copy {TABLE} ({names}) FROM '{_path(base)}' CSV HEADER"], env=_pg_env(server))
    if not fill.ok:
        return MergeResult("postgresql", tool, rows, rows, 0.0, 0, 0, f"base load failed: {fill.stderr.strip()}")
    sql = statements("postgresql", columns, Place("bkp", "contacts__history"))
    staging = sql.name(sql.plan.staging)
    script = work / "merge-by-hand.sql"
    work.mkdir(parents=True, exist_ok=True)
    script.write_text("\n".join([
        "BEGIN;",
        f"CREATE TEMPORARY TABLE {_q(sql.plan.staging.table)} (_seq BIGINT GENERATED BY DEFAULT AS IDENTITY, "
        f"{', '.join(f'{_q(c)} TEXT' for c in columns)}, {LOAD_ID_COLUMN} BIGINT) ON COMMIT DROP;",
        f"\\copy {staging} ({names}) FROM '{_path(export)}' CSV HEADER",
        f"ANALYZE {staging};",
        *[f"{statement};" for statement in _script(sql)],
        "COMMIT;", ""]))
    quiet_disk(server)
    timing = run_timed([*psql, "-f", str(script)], env=_pg_env(server))
    if not timing.ok:
        return MergeResult("postgresql", tool, rows, rows, timing.wall, 0, 0, f"failed: {timing.stderr.strip()}")
    total = server.count(dbname, TABLE)
    updated = server.count(dbname, "bkp.contacts__history")
    return MergeResult("postgresql", tool, rows, rows, timing.wall, total - rows, updated)


def sqlite_by_hand(work: Path, base: Path, export: Path, rows: int) -> MergeResult:
    """`.import` into a temporary staging table, then the statements, in one sqlite3 transaction."""
    tool = BY_HAND["sqlite"]
    if shutil.which("sqlite3") is None:
        return MergeResult("sqlite", tool, rows, rows, 0.0, 0, 0, "sqlite3 shell not installed")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    db = work / "ref.db"
    columns = normalise_header(header_of(export))
    names = ", ".join(_q(c) for c in columns)
    setup = "\n".join([
        "PRAGMA journal_mode = WAL;",
        _ddl("base_rows", columns) + ";",
        f".import --csv --skip 1 '{_path(base)}' base_rows",
        _ddl(TABLE, columns, f", {LOAD_ID_COLUMN} BIGINT") + ";",
        f"INSERT INTO {TABLE} ({names}, {LOAD_ID_COLUMN}) SELECT {names}, 1 FROM base_rows;",
        "DROP TABLE base_rows;",
        f"CREATE UNIQUE INDEX ux_contacts__key ON {TABLE} ({KEY});",
        _history_ddl("contacts__history", columns) + ";", ""])
    prepared = run_timed(["sqlite3", str(db)], stdin=setup)
    if not prepared.ok:
        return MergeResult("sqlite", tool, rows, rows, 0.0, 0, 0, f"base load failed: {prepared.stderr.strip()}")
    sql = statements("sqlite", columns, Place("main", "contacts__history"))
    staging = sql.plan.staging.table
    merge = "\n".join([
        "BEGIN IMMEDIATE;",
        f"CREATE TEMPORARY TABLE {_q(staging)} ({', '.join(f'{_q(c)} TEXT' for c in columns)});",
        f".import --csv --skip 1 --schema temp '{_path(export)}' {staging}",
        f"CREATE INDEX temp.ix_staging ON {_q(staging)} ({KEY});",  # (the rowid is in every index)
        *[f"{statement.replace(_q('_seq'), 'rowid')};" for statement in _script(sql)],
        "COMMIT;", ""])
    quiet_disk()
    timing = run_timed(["sqlite3", str(db)], stdin=merge)
    if not timing.ok or timing.stderr.strip():
        return MergeResult("sqlite", tool, rows, rows, timing.wall, 0, 0, f"failed: {timing.stderr.strip()[-200:]}")
    counted = run_timed(["sqlite3", str(db), f"SELECT (SELECT COUNT(*) FROM {TABLE}), "
                                            "(SELECT COUNT(*) FROM contacts__history)"])
    total, updated = (int(value) for value in counted.stdout.strip().split("|"))
    return MergeResult("sqlite", tool, rows, rows, timing.wall, total - rows, updated)


def _psql(server: PgServer, dbname: str) -> list[str]:
    info = server.info
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", info.get("host", "127.0.0.1"),
            "-p", str(info.get("port", "5432")), "-U", info.get("user", "postgres"), "-d", dbname]


def _pg_env(server: PgServer) -> dict[str, str]:
    env = cli_env()
    if server.info.get("password"):
        env["PGPASSWORD"] = server.info["password"]
    return env


def _path(path: Path) -> str:
    return str(path).replace("'", "''")


def best(results: list[MergeResult], want: tuple[int, int]) -> MergeResult:
    """The fastest correct run (else the first)."""
    good = [r for r in results if r.ok(want) and r.wall > 0]
    return min(good, key=lambda r: r.wall) if good else results[0]
