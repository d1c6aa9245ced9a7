"""Detection: the stability tracker over real files, the observers, and a real daemon
that must never load a file still being written by another process."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import CONTACTS, wait_for, write_csv

from monitor.config import FolderRule, Settings
from monitor.intake.rules import RuleBook
from monitor.intake.watcher import FolderWatcher, StabilityTracker


def _settings(tmp_path: Path, **rule: Any) -> Settings:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    return Settings(folders=[FolderRule(path=folder, table="t", **rule)])


def test_a_file_is_ready_only_after_the_settle_time_without_change(tmp_path):
    rule = _settings(tmp_path).folders[0]
    path = write_csv(rule.path / "a.csv", ["x"], [["1"]])
    tracker = StabilityTracker(settle_seconds=0.4)
    assert tracker.offer(path, rule)
    assert tracker.ready() == []
    time.sleep(0.25)
    with path.open("a") as handle:  # changes during the settle time start it again
        handle.write("2\n")
    time.sleep(0.25)
    assert tracker.ready() == []  # the stat shows the change: the clock restarts
    ready = wait_for(lambda: tracker.ready(), timeout=10, interval=0.05)
    assert [c.path for c in ready] == [path]
    tracker.forget(path)
    assert len(tracker) == 0


def test_vanished_files_are_forgotten_and_oldest_come_first(tmp_path):
    rule = _settings(tmp_path).folders[0]
    tracker = StabilityTracker(settle_seconds=0)
    paths = [write_csv(rule.path / f"{name}.csv", ["x"], [["1"]]) for name in ("c", "a", "b")]
    for path in paths:
        tracker.offer(path, rule)
    paths[0].unlink()
    assert [c.path.name for c in tracker.ready()] == ["a.csv", "b.csv"]
    assert len(tracker) == 2
    assert [c.path.name for c in tracker.ready(limit=1)] == ["a.csv"]


def test_the_tracker_is_bounded_and_a_rescan_picks_up_what_it_left_out(tmp_path):
    settings = _settings(tmp_path)
    rule = settings.folders[0]
    for index in range(25):
        write_csv(rule.path / f"f{index:02}.csv", ["x"], [[str(index)]])
    tracker = StabilityTracker(settle_seconds=0, max_candidates=10)
    watcher = FolderWatcher(settings, tracker)
    watcher.rescan()
    assert len(tracker) == 10 and tracker.overflowed
    seen: set[str] = set()
    for _ in range(5):  # drain as the daemon does: hand on, forget, rescan when half empty
        for candidate in tracker.ready():
            seen.add(candidate.path.name)
            candidate.path.rename(tmp_path / candidate.path.name)
            tracker.forget(candidate.path)
        watcher.rescan()
    assert len(seen) == 25 and len(tracker) == 0


def test_temporary_and_hidden_names_are_ignored(tmp_path):
    settings = _settings(tmp_path)
    rule_for = RuleBook(settings).watched
    folder = settings.folders[0].path.resolve()
    for name in ("x.csv.tmp", "x.csv.part", "x.csv.partial", "x.crdownload", "~$x.csv", ".x.csv"):
        assert rule_for(folder / name) is None, name
    assert rule_for(folder / "x.csv") is settings.folders[0]
    assert rule_for(folder / "x.txt") is None
    assert rule_for(tmp_path / "x.csv") is None


@pytest.mark.parametrize("kind", ["native", "polling"])
def test_observers_report_new_and_renamed_files(tmp_path, kind):
    settings = _settings(tmp_path, observer=kind, poll_interval=0.3)
    tracker = StabilityTracker(settle_seconds=0)
    watcher = FolderWatcher(settings, tracker)
    watcher.start()
    try:
        assert watcher.alive()
        folder = settings.folders[0].path.resolve()
        write_csv(folder / "new.csv", ["x"], [["1"]])
        write_csv(folder / "late.csv.part", ["x"], [["1"]])
        wait_for(lambda: folder / "new.csv" in tracker, timeout=20)
        assert folder / "late.csv.part" not in tracker
        (folder / "late.csv.part").rename(folder / "late.csv")
        wait_for(lambda: folder / "late.csv" in tracker, timeout=20)
    finally:
        watcher.stop()


WRITER = """
import sys, time
path, rows, chunks, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
with open(path, "w", encoding="utf-8") as out:
    out.write("id,name\\n")
    out.flush()
    per = rows // chunks
    for chunk in range(chunks):
        time.sleep(pause)
        out.write("".join(f"{chunk * per + i},row {chunk * per + i}\\n" for i in range(per)))
        out.flush()
"""


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_file_written_slowly_by_another_process_is_loaded_only_once_complete(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, settle_seconds=1.0)
    rows, chunks, pause = 4_000, 40, 0.09  # about 3.6 s of writing, never a pause near the settle time
    target = ws.folder("contacts") / "slow.csv"
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        writer = subprocess.run([sys.executable, "-c", WRITER, str(target), str(rows), str(chunks), str(pause)],
                                timeout=120, check=True)
        assert writer.returncode == 0
        finished_writing = datetime.now(UTC).replace(tzinfo=None)
        wait_for(lambda: ws.query("SELECT status FROM ingest_files") == [("loaded",)], timeout=60)
    # A half-written load would show as fewer rows (the writer's later rows landing in the
    # moved file) or as a second audit row.
    assert ws.query("SELECT rows_loaded FROM ingest_files") == [(rows,)]
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM contacts") == [(rows, rows)]
    started = datetime.fromisoformat(str(ws.query("SELECT started_at FROM ingest_files")[0][0]))
    print(f"last write -> claimed: {(started - finished_writing).total_seconds():.2f}s (settle 1.0s)")
