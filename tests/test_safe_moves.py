"""Moves never write over a file and never leave a partial one, names fit the file system,
and side files never take a user's file's place; a full disk is said in words and the move
is finished once there is space."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from pathlib import Path

import pytest

from monitor.config import Settings
from monitor.intake.folders import (
    NAME_MAX_BYTES,
    copy_file,
    disk_problem,
    fit_name,
    free_path,
    move_file,
    readable_name,
    write_note,
)
from monitor.load.state.machine import FileFacts, StateStore, Status, utcnow
from monitor.load.state.moves import Mover
from monitor.load.state.outcome import OutcomeKind
from monitor.operate.app import build_app

MIB = 1 << 20


def test_long_names_are_fitted_keeping_their_extension_and_apart():
    one, two = "c" * 240 + "_one.csv.gz", "c" * 240 + "_two.csv.gz"
    fitted = [fit_name(one), fit_name(two)]
    assert fitted[0] != fitted[1] and all(name.endswith(".csv.gz") for name in fitted)
    assert all(len(name.encode()) <= NAME_MAX_BYTES - 16 for name in fitted)
    assert fit_name(one) == fitted[0]  # the same name is always fitted alike (recovery finds it again)
    assert fit_name("short.csv") == "short.csv"
    wide = fit_name("é" * 200 + ".csv")  # two bytes a character: never cut in the middle of one
    assert wide.encode("utf-8").decode("utf-8") == wide and len(wide.encode()) <= 239


def test_a_name_that_is_not_utf8_is_read_as_windows_1252():
    assert readable_name(os.fsdecode(b"caf\xe9 \x80.csv")) == "café €.csv"
    assert readable_name("café.csv") is None


def test_a_move_never_writes_over_a_file(tmp_path):
    source, target = tmp_path / "new.csv", tmp_path / "archive" / "old.csv"
    source.write_text("new")
    target.parent.mkdir()
    target.write_text("the user's own")
    with pytest.raises(FileExistsError):
        move_file(source, target)
    with pytest.raises(FileExistsError):
        copy_file(source, target)
    assert target.read_text() == "the user's own" and source.read_text() == "new"
    assert not write_note(target, "a note") and target.read_text() == "the user's own"


def test_a_move_cut_short_between_its_two_names_is_finished(tmp_path):
    source, target = tmp_path / "a.csv", tmp_path / "archive" / "a.csv"
    source.write_text("data")
    target.parent.mkdir()
    os.link(source, target)  # a crash after the new name was made, before the old was removed
    move_file(source, target)
    assert not source.exists() and target.read_text() == "data"


def test_a_free_name_leaves_room_for_side_files_and_never_takes_theirs(tmp_path):
    (tmp_path / "report.csv.rejects.csv").write_text("the user's file")
    assert free_path(tmp_path, "report.csv", 7) == tmp_path / "report__7.csv"
    (tmp_path / "report__7.csv.error.txt").write_text("another")
    assert free_path(tmp_path, "report.csv", 7) == tmp_path / "report__7_2.csv"
    assert len(free_path(tmp_path, "x" * 255, 12345).name.encode()) <= 239


def test_a_full_disk_leaves_no_partial_copy_and_says_what_is_full(tmp_path, small_disk):
    full = small_disk(tmp_path / "archive", MIB)
    big = tmp_path / "big.csv"
    big.write_bytes(b"id,v\n" + b"1,abcdefgh\n" * 200_000)  # 2.2 MB, on another file system
    with pytest.raises(OSError) as caught:
        move_file(big, full / "big.csv")
    assert caught.value.errno == errno.ENOSPC
    assert list(full.iterdir()) == [] and big.stat().st_size == 2_200_005
    assert disk_problem(caught.value, full) == f"{full} is full (No space left on device)"


def _failed_file(state: StateStore, backend, folder: Path, name: str, target: Path) -> int:
    path = folder / name
    path.write_bytes(b"\x00not csv")
    claim = state.claim(FileFacts(str(path), name, "ab" * 32, 8), backend.default_schema, "t", "append")
    assert claim.load_id is not None
    with backend.transaction() as conn:
        state.transition(conn, claim.load_id, Status.CLAIMED, Status.FAILED, error=f"{name}: binary content",
                         pending_move_to=str(target), finished_at=utcnow())
    return claim.load_id


def test_a_failed_file_gets_its_own_note_when_a_user_file_holds_the_name(backend, tmp_path):
    state, mover = StateStore(backend, "test"), Mover(StateStore(backend, "test"))
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "bad.csv.error.txt").write_text("the user's own file")  # dropped, failed and moved here earlier
    load_id = _failed_file(state, backend, tmp_path, "bad.csv", failed / "bad.csv")
    row = state.get(load_id)
    mover.finish(row)
    moved = Path(state.get(load_id).current_path)
    assert moved == failed / f"bad__{load_id}.csv" and moved.read_bytes() == b"\x00not csv"
    assert f"load id: {load_id}\n" in (failed / f"bad__{load_id}.csv.error.txt").read_text()
    assert (failed / "bad.csv.error.txt").read_text() == "the user's own file"
    assert state.get(load_id).pending_move_to is None


def test_a_move_to_a_full_disk_waits_and_is_finished_once_there_is_space(backend, tmp_path, small_disk, caplog):
    state = StateStore(backend, "test")
    mover = Mover(state)
    full = small_disk(tmp_path / "failed", 64 * 1024)
    load_id = _failed_file(state, backend, tmp_path, "big.csv", full / "big.csv")
    (tmp_path / "big.csv").write_bytes(b"x" * 200_000)  # bigger than the disk
    with caplog.at_level(logging.ERROR, logger="monitor.pipeline"):
        mover.finish(state.get(load_id))
    assert "is full (No space left on device)" in caplog.text and "tried again" in caplog.text
    row = state.get(load_id)
    assert row.pending_move_to == str(full / "big.csv") and Path(row.current_path).exists()
    assert sorted(p.name for p in full.iterdir()) == ["big.csv.error.txt"]  # no partial copy, the note is whole
    assert mover.stalled == {load_id: 1} and not mover.retry_due()  # tried again after a pause
    subprocess.run(["mount", "-o", "remount,size=1m", str(full)], check=True)
    mover.finish(state.get(load_id))
    assert Path(state.get(load_id).current_path) == full / "big.csv" and mover.stalled == {}
    assert (full / "big.csv").stat().st_size == 200_000 and not (tmp_path / "big.csv").exists()


def test_a_file_that_cannot_be_taken_in_fails_saying_which_folder_is_full(backend_url, tmp_path, small_disk):
    watched = tmp_path / "incoming" / "contacts"
    watched.mkdir(parents=True)
    processing = small_disk(tmp_path / "incoming" / "processing", 64 * 1024)
    settings = Settings(database_url=backend_url, http_port=0,
                        folders=[{"path": str(watched), "pattern": "*.csv", "table": "contacts"}])
    app = build_app(settings, instance="test")
    dropped = watched / "big.csv"
    dropped.write_bytes(b"id,v\n" + b"1,abcdefgh\n" * 20_000)  # 220 kB, copied in from another file system
    try:
        outcome = app.pipeline.process(dropped, settings.folders[0])
    finally:
        app.close()
    assert outcome.status is OutcomeKind.FAILED
    assert f"cannot be taken in to {processing / 'contacts'}" in outcome.error and "is full" in outcome.error
    assert list((processing / "contacts").iterdir()) == []  # nothing partial left behind
    failed = tmp_path / "incoming" / "failed" / "contacts" / "big.csv"
    assert failed.stat().st_size == 220_005 and "is full" in failed.with_name("big.csv.error.txt").read_text()
