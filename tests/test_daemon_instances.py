"""Several real daemon processes on one folder and one PostgreSQL database: each file is
claimed by exactly one of them, and the claims of one that dies are taken over once its
lease expires."""

from __future__ import annotations

import collections

import pytest
from conftest import CONTACTS, DaemonProcess, cli_env, drop, wait_for, write_csv


def _instance(ws, name: str) -> DaemonProcess:
    daemon = DaemonProcess(ws, [], env=cli_env(INGEST_INSTANCE=name))
    wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
    return daemon


def _audit(ws) -> list[tuple]:
    return ws.query("SELECT file_name, status, claimed_by, load_id, rows_loaded FROM ingest_files ORDER BY load_id")


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_two_instances_share_a_folder_and_take_over_from_a_dead_one(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, settle_seconds=0.3, lease_seconds=3, batch_rows=2_000, workers=4)
    folder = ws.folder("contacts")
    source = tmp_path / "source"
    expected: dict[str, int] = {}
    for index in range(40):
        rows = 1 + (index * 37) % 900
        expected[f"c{index:02}.csv"] = rows
        write_csv(source / f"c{index:02}.csv", ["file", "line"], [[f"c{index:02}", str(i)] for i in range(rows)])
    same = [["same", str(i)] for i in range(50)]  # one content under five names, seen by both
    for index in range(5):
        write_csv(source / f"same{index}.csv", ["file", "line"], same)

    a, b = _instance(ws, "a"), _instance(ws, "b")
    for path in sorted(source.iterdir()):
        drop(path, folder)
    wait_for(lambda: len(_audit(ws)) == 45 and all(row[1] in ("loaded", "duplicate") for row in _audit(ws)),
             timeout=180, interval=0.5)
    audit = _audit(ws)
    assert collections.Counter(row[0] for row in audit) == collections.Counter(
        [*expected, *(f"same{index}.csv" for index in range(5))]), "one audit row per dropped file"
    assert {row[0]: row[1] for row in audit if row[0] in expected} == dict.fromkeys(expected, "loaded")
    assert sorted(row[1] for row in audit if row[0].startswith("same")) == ["duplicate"] * 4 + ["loaded"]
    assert {row[2] for row in audit} <= {"a", "b"}
    print("claims per instance:", collections.Counter(row[2] for row in audit))
    loaded = {row[3]: row[4] for row in audit if row[1] == "loaded"}
    assert dict(ws.query("SELECT _load_id, COUNT(*) FROM contacts GROUP BY _load_id")) == loaded
    assert dict(ws.query("SELECT file, COUNT(*) FROM contacts GROUP BY file")) == {
        **{name[:-4]: rows for name, rows in expected.items()}, "same": 50}
    assert ws.query("SELECT COUNT(*) FROM ingest_events WHERE detail LIKE 'taken over%'") == [(0,)]
    assert not any(folder.iterdir())

    # b goes away; a takes a long file and dies (kill -9) in the middle of it.
    assert b.stop() == 0
    rows = 1_000_000
    big = tmp_path / "big.csv"
    big.write_text("file,line\n" + "".join(f"big,{i}\n" for i in range(rows)), encoding="utf-8")
    drop(big, folder)
    wait_for(lambda: ("big.csv", "loading", "a") in {row[:3] for row in _audit(ws)}, timeout=60, interval=0.05)
    a.kill()
    b = _instance(ws, "b")
    try:
        wait_for(lambda: ("big.csv", "loaded") in {row[:2] for row in _audit(ws)}, timeout=180, interval=0.5)
    finally:
        assert b.stop() == 0
    [(load_id, claimed_by, attempts)] = ws.query(
        "SELECT load_id, claimed_by, attempts FROM ingest_files WHERE file_name = 'big.csv'")
    assert (claimed_by, attempts) == ("b", 2)
    assert ws.query("SELECT instance FROM ingest_events WHERE load_id = :id AND detail LIKE 'taken over%'",
                    id=load_id) == [("b",)]
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT line) FROM contacts WHERE file = 'big'") == [(rows, rows)]
    assert ws.query("SELECT COUNT(*) FROM contacts WHERE _load_id = :id", id=load_id) == [(rows,)]
