"""kill -9 at random moments, round after round, then one clean run: every dropped file
ends in exactly one terminal state and every target holds each file's rows exactly once."""

from __future__ import annotations

import collections
import random
import time
from pathlib import Path

import pytest
from conftest import drop, wait_for, write_csv

SNAPSHOTS = {"path": "incoming/snapshots", "pattern": "snap-*.csv", "table": "snapshot", "mode": "fullload",
             "reference": True, "backups": 2, "min_row_share": 0}  # sizes vary at random: no shrink guard
EVENTS = {"path": "incoming/events", "pattern": "*.csv", "table": "events", "mode": "append"}
ROUNDS = 20
EVENT_SIZES = [1, 40, 400, 5_000, 30_000]
SNAPSHOT_SIZES = [5, 600, 15_000]
BIG_EVENT = 120_000


def _in_flight(ws) -> collections.Counter:
    """What the kill interrupted: rows in flight, and moves recorded but not done."""
    found: collections.Counter = collections.Counter()
    try:
        rows = ws.query("SELECT status, pending_move_to FROM ingest_files")
    except Exception:  # killed before it created its tables
        return collections.Counter(["before the database was set up"])
    for status, pending in rows:
        if status in ("claimed", "loading"):
            found[status] += 1
        if pending:
            found[f"{status}, move pending"] += 1
    return found


def _settled(ws, names: set[str]) -> bool:
    rows = ws.query("SELECT file_name, status, pending_move_to FROM ingest_files")
    done = {name for name, status, pending in rows if status in ("loaded", "duplicate", "failed") and not pending}
    busy = [name for name, status, pending in rows if status in ("claimed", "loading") or pending]
    return names <= done and not busy


def _files_under(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.timeout(900)  # twenty kills and restarts, then up to 240 s to settle on a slow server
def test_kill_9_at_random_moments_never_loses_or_doubles_a_file(make_workspace, tmp_path):
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print(f"seed {seed}")
    ws = make_workspace(SNAPSHOTS, EVENTS, settle_seconds=0.2, batch_rows=250, workers=3)
    source = tmp_path / "source"
    events: dict[str, int] = {}  # file name -> rows
    snapshots: dict[str, tuple[int, int]] = {}  # file name -> (rows, snapshot number)
    interrupted: collections.Counter = collections.Counter()
    for round_no in range(ROUNDS):
        daemon = ws.daemon()
        if round_no % 4 != 3:  # most rounds kill it at work; every fourth while it starts and recovers
            wait_for(lambda d=daemon: "ingest-monitor running" in d.output(), timeout=60, interval=0.05)
        for _ in range(rng.randint(1, 3)):
            name, rows = f"ev-{round_no:02}-{len(events):03}.csv", rng.choice(EVENT_SIZES)
            write_csv(source / name, ["file", "line", "payload"],
                      [[name, str(i), "x" * rng.randint(0, 40)] for i in range(rows)])
            drop(source / name, ws.folder("events"))
            events[name] = rows
        if rng.random() < 0.6:
            number = len(snapshots)
            name, rows = f"snap-{number:03}.csv", rng.choice(SNAPSHOT_SIZES)
            write_csv(source / name, ["key", "snap", "value"],
                      [[f"k{i}", str(number), str(rng.random())] for i in range(rows)])
            drop(source / name, ws.folder("snapshot"))
            snapshots[name] = (rows, number)
        if round_no % 5 == 1:  # a targeted round: kill it mid-load, whatever the machine's speed
            name = f"ev-{round_no:02}-{len(events):03}-big.csv"
            write_csv(source / name, ["file", "line", "payload"], [[name, str(i), "y" * 30] for i in range(BIG_EVENT)])
            drop(source / name, ws.folder("events"))
            events[name] = BIG_EVENT
            # until it loads; a fast server may have loaded it between two looks (the kill then
            # lands after it, and the rounds' count of kills that caught a file in flight tells)
            wait_for(lambda n=name: ws.query("SELECT status FROM ingest_files WHERE file_name = :n", n=n)
                     in ([("loading",)], [("loaded",)]), timeout=120, interval=0.01)
        else:
            time.sleep(rng.uniform(0.1, 1.2))
        daemon.kill()
        interrupted.update(_in_flight(ws))
    print(f"{ROUNDS} kills interrupted: {dict(interrupted)}")
    assert interrupted["claimed"] + interrupted["loading"] > 0, "no kill caught a file in flight"

    names = set(events) | set(snapshots)
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        wait_for(lambda: _settled(ws, names), timeout=240, interval=0.5)
    assert daemon.proc.returncode == 0

    audit = ws.query("SELECT file_name, status, load_id, rows_loaded, finished_at FROM ingest_files")
    per_file = collections.Counter(name for name, *_ in audit)
    assert per_file == collections.Counter(names), "each dropped file has exactly one audit row"
    assert {name: status for name, status, *_ in audit} == dict.fromkeys(names, "loaded")
    load_of = {name: load_id for name, _, load_id, *_ in audit}
    assert {name: loaded for name, _, _, loaded, _ in audit} == {**events, **{n: r for n, (r, _) in snapshots.items()}}

    # Append: each file's rows exactly once, tagged with its own load id.
    by_load = dict(ws.query("SELECT _load_id, COUNT(*) FROM events GROUP BY _load_id"))
    assert by_load == {load_of[name]: rows for name, rows in events.items()}
    by_file = dict(ws.query('SELECT "file", COUNT(*) FROM events GROUP BY "file"'))  # FILE is T-SQL's word
    assert by_file == events
    assert ws.query('SELECT COUNT(*) FROM (SELECT "file", "line" FROM events GROUP BY "file", "line" '
                    "HAVING COUNT(*) > 1) d") \
        == [(0,)]

    # Fullload: the table holds exactly the snapshot swapped in last, once.
    if snapshots:
        last = max((finished, load_id, name) for name, _, load_id, _, finished in audit if name in snapshots)
        rows, number = snapshots[last[2]]
        assert ws.query("SELECT COUNT(*), MIN(_load_id), MAX(_load_id), MIN(snap), MAX(snap) FROM ref.snapshot") \
            == [(rows, last[1], last[1], str(number), str(number))]

    # Files: nothing left in the watched or processing folders; each file archived once.
    incoming = ws.root / "incoming"
    for folder in ("events", "snapshots"):
        assert _files_under(incoming / folder) == []
        assert _files_under(incoming / "processing" / folder) == []
    archived = _files_under(incoming / "archive")
    assert sorted(archived) == sorted(names)
