"""Concurrency and back-pressure of the real daemon: many files load at once, a slow file
holds up no other, and a burst of files far larger than the queue loads exactly once."""

from __future__ import annotations

import threading

import psycopg
import pytest
from conftest import CONTACTS, wait_for, write_csv

BLOCKED = {"path": "incoming/blocked", "pattern": "*.csv", "table": "blocked", "mode": "append"}
FREE = {"path": "incoming/free", "pattern": "*.csv", "table": "free", "mode": "append"}


def _statuses(ws) -> dict[str, str]:
    return dict(ws.query("SELECT file_name, status FROM ingest_files"))


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_ten_files_load_at_once_and_a_stuck_target_holds_up_no_other(make_workspace, tmp_path, backend_url):
    ws = make_workspace(BLOCKED, FREE, workers=12, settle_seconds=0.2)
    first = write_csv(ws.folder("blocked") / "first.csv", ["id"], [["first"]])
    blocked_files = 11
    with ws.daemon():
        wait_for(lambda: _statuses(ws).get(first.name) == "loaded", timeout=60)
        # A transaction of ours holds the `blocked` table: every load into it waits, in `loading`.
        info = psycopg.conninfo.conninfo_to_dict(backend_url.replace("postgresql+psycopg", "postgresql"))
        with psycopg.connect(**info) as holder:
            holder.execute("LOCK TABLE blocked IN ACCESS EXCLUSIVE MODE")
            for index in range(blocked_files):
                rows = [[str(i)] for i in range(index * 10, index * 10 + 10)]
                write_csv(ws.folder("blocked") / f"b{index}.csv", ["id"], rows)
            peak = [0]

            def loading() -> bool:
                count = sum(1 for status in _statuses(ws).values() if status == "loading")
                peak[0] = max(peak[0], count)
                return count >= 10

            wait_for(loading, timeout=120)
            for index in range(5):  # files for another target go through meanwhile
                write_csv(ws.folder("free") / f"free{index}.csv", ["id"], [[str(index)]])
            wait_for(lambda: sum(1 for name, status in _statuses(ws).items()
                                 if name.startswith("free") and status == "loaded") == 5, timeout=120)
            still = [name for name, status in _statuses(ws).items() if name[0] == "b" and status == "loading"]
            assert len(still) >= 10, still
            holder.rollback()
        wait_for(lambda: all(status == "loaded" for status in _statuses(ws).values())
                 and len(_statuses(ws)) == 1 + blocked_files + 5, timeout=120)
    assert peak[0] >= 10
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM blocked") == [(1 + 10 * blocked_files,) * 2]
    assert ws.query("SELECT COUNT(*) FROM free") == [(5,)]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_burst_of_files_sixty_times_the_queue_loads_each_exactly_once(make_workspace):
    ws = make_workspace(CONTACTS, queue_size=20, settle_seconds=0.2, workers=4, rescan_seconds=600)
    folder = ws.folder("contacts")
    count = 1_200
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)

        def burst(start: int) -> None:
            for index in range(start, count, 4):
                write_csv(folder / f"burst-{index:05}.csv", ["n"], [[str(index)]])

        writers = [threading.Thread(target=burst, args=(start,)) for start in range(4)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        wait_for(lambda: ws.query("SELECT COUNT(*) FROM ingest_files WHERE status = 'loaded'") == [(count,)],
                 timeout=600, interval=1)
        output = daemon.output()
    assert "the rest wait in their folder" in output  # the tracker was full: files waited in the folder
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT file_name) FROM ingest_files") == [(count, count)]
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT n), MIN(CAST(n AS INTEGER)), MAX(CAST(n AS INTEGER)) "
                    "FROM contacts") == [(count, count, 0, count - 1)]
    assert ws.query("SELECT COUNT(*) FROM contacts GROUP BY _load_id HAVING COUNT(*) <> 1") == []
    assert not any(folder.iterdir())
