"""A crash during a fullload's swap never costs `bkp` its snapshot (SQLite, where `ref` and
`bkp` are files that commit one by one): the real daemon held at the point between two
commits, killed there with SIGKILL, restarted: `ref` whole (the old snapshot or the new),
`bkp.<t>` the snapshot before it; then kills at random moments. Also, on PostgreSQL, a split
fill killed while a newer snapshot goes in ends `superseded` and leaves no table."""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path

import pytest
from conftest import DaemonProcess, cli_env, drop, engine_for, wait_for
from test_fullload_keeps_table import FIRMS, leftovers, loaded, snapshot

from monitor.load.write.backups import PAUSE_ENV


def state(ws, table: str) -> tuple[int, int, int] | None:
    """(rows, distinct load ids, the load id) of a table, None when it is missing."""
    try:
        (rows, ids, load_id), = ws.query(f"SELECT COUNT(*), COUNT(DISTINCT _load_id), MAX(_load_id) FROM {table}")
    except Exception:  # no such table
        return None
    return rows, ids, load_id


def load_id(ws, name: str) -> int:
    return ws.query("SELECT load_id FROM ingest_files WHERE file_name = :n", n=name)[0][0]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("step", ["backup-copied", "ref-replaced"])
def test_a_kill_between_the_commits_of_ref_and_bkp_costs_no_snapshot(make_workspace, tmp_path, backend_url, step):
    ws = make_workspace(FIRMS)
    files = [snapshot(tmp_path, day, rows=100 * day) for day in (1, 2, 3)]
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        for path in files[:2]:
            drop(path, ws.folder("firms"))
            wait_for(loaded(ws, [path.name]))
    first, second = load_id(ws, files[0].name), load_id(ws, files[1].name)
    assert state(ws, "bkp.firms") == (100, 1, first)

    marker = tmp_path / "paused"
    held = DaemonProcess(ws, [], env=cli_env(**{PAUSE_ENV: f"{step}:{marker}"}))
    wait_for(lambda: "ingest-monitor running" in held.output(), timeout=180)
    drop(files[2], ws.folder("firms"))
    wait_for(marker.exists, timeout=120)
    third = load_id(ws, files[2].name)
    # held between two commits: every table whole, the backup's copy committed in bkp first
    assert state(ws, "ref.firms") == ((200, 1, second) if step == "backup-copied" else (300, 1, third))
    assert state(ws, "bkp.firms") == (100, 1, first)
    assert state(ws, f"bkp.firms__swap_{third}") == (200, 1, second)
    held.kill()

    with ws.daemon() as daemon:
        wait_for(loaded(ws, [files[2].name]), timeout=120)
        wait_for(lambda: leftovers(ws, backend_url) == [])
    assert state(ws, "ref.firms") == (300, 1, third)
    assert state(ws, "bkp.firms") == (200, 1, second), "bkp holds the snapshot before the one in ref"
    assert "Traceback" not in daemon.output()


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_kills_at_random_moments_never_cost_ref_or_bkp_a_whole_snapshot(make_workspace, tmp_path, backend_url):
    rng = random.Random(24)
    ws = make_workspace(FIRMS, settle_seconds=0.2)
    files = [snapshot(tmp_path, day, rows=20_000 + day) for day in range(1, 7)]
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        drop(files[0], ws.folder("firms"))
        wait_for(loaded(ws, [files[0].name]), timeout=120)
    rows_of = {}
    for path in files[1:]:
        daemon = ws.daemon()
        wait_for(lambda d=daemon: "ingest-monitor running" in d.output(), timeout=180)
        drop(path, ws.folder("firms"))
        time.sleep(rng.uniform(0.2, 3.0))
        daemon.kill()
        rows_of = {load: rows for load, rows in ws.query("SELECT load_id, rows_loaded FROM ingest_files")}
        found = state(ws, "ref.firms")
        assert found is not None and found[1] == 1, f"ref.firms holds one snapshot whole: {found}"
        found = state(ws, "bkp.firms")  # absent until a second snapshot's swap is settled
        assert found is None or found[1] == 1, f"bkp.firms holds one snapshot whole: {found}"
    with ws.daemon() as daemon:
        wait_for(lambda: {status for (status,) in ws.query("SELECT status FROM ingest_files")} <= {"loaded",
                                                                                                  "superseded"}
                 and len(ws.query("SELECT 1 FROM ingest_files")) == len(files), timeout=300, interval=0.5)
        wait_for(lambda: leftovers(ws, backend_url) == [])
    done = ws.query("SELECT load_id, rows_loaded FROM ingest_files WHERE status = 'loaded' "
                    "ORDER BY finished_at, load_id")
    assert rows_of
    (previous, previous_rows), (last, last_rows) = done[-2], done[-1]
    assert state(ws, "ref.firms") == (last_rows, 1, last)
    assert state(ws, "bkp.firms") == (previous_rows, 1, previous)


def _write_big(path: Path, day: int, rows: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "name", "town"])
        writer.writerows([str(i), f"firm {i} of day {day} " + "x" * 80, "Leeds"] for i in range(rows))
    return path


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_split_fill_killed_then_superseded_leaves_no_table(make_workspace, tmp_path, backend_url):
    ws = make_workspace({**FIRMS, "columns": {}}, settle_seconds=0.2, workers=1,
                        backend={"postgresql": {"split_connections": 2, "split_min_bytes": 0}})
    older = _write_big(tmp_path / "source" / "firms-2026-01-01.csv", 1, 300_000)
    newer = _write_big(tmp_path / "newer" / "firms-2026-01-02.csv", 2, 1_000)
    daemon = ws.daemon()
    wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
    drop(older, ws.folder("firms"))
    wait_for(lambda: [n for n in ws.tables("ref") if "__stg_" in n], timeout=120, interval=0.01)
    daemon.kill()
    assert ws.query("SELECT status FROM ingest_files WHERE file_name = :n", n=older.name) == [("loading",)]
    ws.cli("ingest", str(newer))  # the newer snapshot goes in while the daemon is down
    with ws.daemon() as daemon:
        wait_for(lambda: ws.query("SELECT status FROM ingest_files WHERE file_name = :n", n=older.name)
                 == [("superseded",)], timeout=120)
        wait_for(lambda: leftovers(ws, backend_url) == [])
    assert state(ws, "ref.firms") == (1_000, 1, load_id(ws, newer.name))


@pytest.mark.parametrize("backend_url", ["sqlite", "postgresql"], indirect=True)
def test_at_start_staging_tables_of_ended_loads_are_dropped_and_said(make_workspace, tmp_path, backend_url):
    """A staging table whose load has ended (here: loaded) or that no load owns is dropped at
    start, with a log line; the table and its backup stay as they are."""
    ws = make_workspace(FIRMS)
    first = snapshot(tmp_path, 1, rows=20)
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        drop(first, ws.folder("firms"))
        wait_for(loaded(ws, [first.name]))
    done = load_id(ws, first.name)
    engine = engine_for(backend_url)
    with engine.begin() as conn:
        if backend_url.startswith("sqlite"):
            db = Path(str(engine.url.database))
            conn.exec_driver_sql(f"ATTACH DATABASE '{db.with_name(db.stem + '.ref.db')}' AS ref")
        for name in (f"firms__stg_{done}", "firms__stg_9999"):
            conn.exec_driver_sql(f"CREATE TABLE ref.{name} (number bigint)")
    engine.dispose()
    assert len(leftovers(ws, backend_url)) == 2
    with ws.daemon() as daemon:
        wait_for(lambda: leftovers(ws, backend_url) == [])
    for name in (f"firms__stg_{done}", "firms__stg_9999"):
        assert f"at start: ref.{name} dropped (left by a load that has ended)" in daemon.output()
    assert state(ws, "ref.firms") == (20, 1, done)
