"""kill -9 of a real daemon while it fills one fullload file over several PostgreSQL
connections (its staging table committed, the COPYs running), round after round, then a
clean run: every file ends `loaded` exactly once, the table holds the newest snapshot
exactly once, and no staging table is left."""

from __future__ import annotations

import csv
import random
import time

import pytest
from conftest import drop, wait_for

pytestmark = pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
SNAPSHOTS = {"path": "incoming/snapshots", "pattern": "snap-*.csv", "table": "snapshot", "mode": "fullload",
             "reference": True, "backups": 1}
ROUNDS = 4
ROWS = 300_000  # about 40 MB: the fill takes long enough to be caught


def _write(path, number: int, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "snap", "note"])
        writer.writerows([f"k{i}", str(number), f"line one\nline two {i} " + "x" * 80] for i in range(rows))


def _staging(ws) -> list[str]:
    return [name for (name,) in ws.query("SELECT tablename FROM pg_tables WHERE schemaname = 'ref' "
                                         "AND tablename LIKE '%\\_\\_stg\\_%'")]


def test_kill_9_mid_split_fill_leaves_each_file_loaded_exactly_once(make_workspace, tmp_path):
    rng = random.Random(19)
    ws = make_workspace(SNAPSHOTS, settle_seconds=0.2, workers=2, log_level="DEBUG",
                        backend={"postgresql": {"split_connections": 2, "split_min_bytes": 0}})
    source = tmp_path / "source"
    caught = 0
    names = []
    for round_no in range(ROUNDS):
        name = f"snap-{round_no:03}.csv"
        _write(source / name, round_no, ROWS + round_no)
        names.append(name)
        with ws.daemon() as daemon:
            wait_for(lambda d=daemon: "ingest-monitor running" in d.output(), timeout=60, interval=0.05)
            drop(source / name, ws.folder("snapshot"))
            wait_for(lambda: _staging(ws), timeout=120, interval=0.01)  # the staging table committed
            if round_no % 2:  # else at once: the COPYs just started
                time.sleep(rng.uniform(0.05, 0.4))  # mid-fill, or past it: the commits, the swap
            status = ws.query("SELECT status FROM ingest_files WHERE file_name = :n", n=name)
            caught += status == [("loading",)]
            daemon.kill()
    assert caught, "no kill caught a file loading"

    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        wait_for(lambda: {status for (status,) in ws.query("SELECT status FROM ingest_files")} == {"loaded"}
                 and len(ws.query("SELECT 1 FROM ingest_files")) == ROUNDS, timeout=300, interval=0.5)
    assert "read by COPY from its lines over 2 connections" in daemon.output()  # the files resumed went split
    audit = ws.query("SELECT file_name, status, rows_loaded, load_id, finished_at FROM ingest_files")
    assert sorted(name for name, *_ in audit) == names
    assert {name: (status, rows) for name, status, rows, *_ in audit} == {
        name: ("loaded", ROWS + number) for number, name in enumerate(names)}
    last = max(audit, key=lambda row: (row[4], row[3]))
    number = names.index(last[0])
    assert ws.query("SELECT COUNT(*), MIN(_load_id), MAX(_load_id), MIN(snap), MAX(snap) FROM ref.snapshot") \
        == [(ROWS + number, last[3], last[3], str(number), str(number))]
    assert _staging(ws) == []
