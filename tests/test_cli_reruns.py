"""`retry` a failed file from failed/ and `replay` an archived one, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import COMPANIES, CONTACTS, write_csv


def _set_rule(ws, **changes) -> None:
    config = json.loads(ws.config.read_text())
    config["folders"][0].update(changes)
    ws.config.write_text(json.dumps(config))


FIELDS = ["load_id", "file_name", "status", "rows_loaded", "current_path", "replay_of", "duplicate_of"]


def _records(ws) -> list[dict]:
    """The audit rows, oldest first (read directly: the commands under test are retry and replay)."""
    rows = ws.query(f"SELECT {', '.join(FIELDS)} FROM ingest_files ORDER BY load_id")
    return [dict(zip(FIELDS, row, strict=True)) for row in rows]


def _events(ws, load_id: int) -> list[str]:
    rows = ws.query("SELECT status, detail FROM ingest_events WHERE load_id = :id ORDER BY event_id", id=load_id)
    return [detail or status for status, detail in rows]


def test_retry_loads_a_failed_file_again_from_failed(make_workspace):
    ws = make_workspace({**CONTACTS, "encoding": "ascii"})
    folder = ws.folder("contacts")
    dropped = write_csv(folder / "crm.csv", ["name", "town"], [["Zoë", "Zürich"], ["Al", "Rome"]])
    assert ws.cli("ingest", str(dropped), check=False).returncode == 1
    [failed] = _records(ws)
    failed_file = folder.parent / "failed" / "contacts" / "crm.csv"
    assert failed["status"] == "failed" and failed_file.exists()

    again = ws.cli("retry", str(failed["load_id"]), check=False)
    first_retry = _records(ws)[1]
    # failed again: beside the first failure's note, under a name of its own with a note of its own
    failed_again = folder.parent / "failed" / "contacts" / f"crm__{first_retry['load_id']}.csv"
    assert again.returncode == 1 and failed_again.exists() and not failed_file.exists()
    assert first_retry["status"] == "failed"
    assert f"load id: {failed['load_id']}\n" in failed_file.with_name("crm.csv.error.txt").read_text()
    own_note = failed_again.with_name(failed_again.name + ".error.txt")
    assert f"load id: {first_retry['load_id']}\n" in own_note.read_text()
    _set_rule(ws, encoding="auto")
    moved_on = ws.cli("retry", str(failed["load_id"]), check=False)
    assert moved_on.returncode == 1 and f"retried as load {first_retry['load_id']}" in moved_on.stderr
    result = ws.cli("retry", str(first_retry["load_id"]))
    records = _records(ws)
    second_retry = records[2]
    assert result.stdout.startswith(f"load {second_retry['load_id']}: loaded")
    assert [r["status"] for r in records] == ["failed", "failed", "loaded"]
    assert second_retry["file_name"] == "crm.csv" and second_retry["rows_loaded"] == 2
    assert ws.query("SELECT name, _load_id FROM contacts ORDER BY name") == [
        ("Al", second_retry["load_id"]), ("Zoë", second_retry["load_id"])]
    assert not failed_again.exists()
    assert [p.name for p in (folder.parent / "archive" / "contacts").rglob("crm*.csv")] == ["crm.csv"]
    assert f"retried as load {first_retry['load_id']}" in _events(ws, failed["load_id"])
    assert f"retried as load {second_retry['load_id']}" in _events(ws, first_retry["load_id"])
    assert f"retry of load {first_retry['load_id']}" in _events(ws, second_retry["load_id"])
    assert f"claimed {failed_again}" in _events(ws, second_retry["load_id"])

    gone = ws.cli("retry", str(first_retry["load_id"]), check=False)
    assert gone.returncode == 1 and f"its file was retried as load {second_retry['load_id']}" in gone.stderr
    loaded = ws.cli("retry", str(second_retry["load_id"]), check=False)
    assert loaded.returncode == 1 and "is loaded, not failed" in loaded.stderr
    assert ws.cli("retry", "999999", check=False).stderr.strip() == "refused: no load 999999"


def test_replay_loads_an_archived_file_again_and_keeps_it_archived(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    export = write_csv(tmp_path / "export.csv", ["id"], [["1"], ["2"], ["3"]])
    ws.cli("ingest", str(export))
    [original] = _records(ws)
    archived = Path(original["current_path"])
    assert "archive" in archived.parts and archived.exists()

    result = ws.cli("replay", str(original["load_id"]))
    replay = _records(ws)[1]
    assert result.stdout.startswith(f"load {replay['load_id']}: loaded")
    assert (replay["status"], replay["replay_of"], replay["rows_loaded"]) == ("loaded", original["load_id"], 3)
    assert _records(ws)[0]["current_path"] == str(archived) and archived.exists()
    assert Path(replay["current_path"]).exists() and Path(replay["current_path"]) != archived
    assert ws.query("SELECT _load_id, COUNT(*) FROM contacts GROUP BY _load_id ORDER BY _load_id") == [
        (original["load_id"], 3), (replay["load_id"], 3)]
    assert f"replayed as load {replay['load_id']}" in _events(ws, original["load_id"])

    ws.cli("ingest", str(export))
    duplicate = _records(ws)[2]
    assert (duplicate["status"], duplicate["duplicate_of"]) == ("duplicate", original["load_id"])
    assert ws.cli("replay", str(duplicate["load_id"])).returncode == 0
    assert _records(ws)[3]["replay_of"] == duplicate["load_id"]

    archived.rename(tmp_path / "moved-away.csv")
    gone = ws.cli("replay", str(original["load_id"]), check=False)
    assert gone.returncode == 1 and "its file is gone" in gone.stderr


def test_replay_of_an_older_snapshot_puts_it_back_in_place(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES)
    old = write_csv(tmp_path / "BasicCompanyData-1.csv", ["CompanyNumber"], [["01"], ["02"]])
    new = write_csv(tmp_path / "BasicCompanyData-2.csv", ["CompanyNumber"], [["03"]])
    ws.cli("ingest", str(old))
    ws.cli("ingest", str(new))
    first, second = _records(ws)
    ws.cli("replay", str(first["load_id"]))
    replay = _records(ws)[2]
    assert replay["replay_of"] == first["load_id"]
    assert ws.query("SELECT company_number, _load_id FROM ref.companies ORDER BY 1") == [
        ("01", replay["load_id"]), ("02", replay["load_id"])]
    assert ws.query("SELECT company_number FROM bkp.companies") == [("03",)]
    ws.cli("ingest", str(tmp_path / "BasicCompanyData-2.csv"))
    assert _records(ws)[3]["duplicate_of"] == second["load_id"]


def test_replay_refuses_a_failed_load(make_workspace):
    ws = make_workspace(CONTACTS)
    empty = ws.folder("contacts") / "empty.csv"
    empty.write_bytes(b"")
    ws.cli("ingest", str(empty), check=False)
    [failed] = _records(ws)
    result = ws.cli("replay", str(failed["load_id"]), check=False)
    assert result.returncode == 1
    assert "is failed, not loaded or duplicate" in result.stderr
    assert len(_records(ws)) == 1
