"""JSON log lines carry what a log shipper needs: a failed file's `error` and where the failed
file went, a duplicate's `duplicate_of`, and a snapshot set's lines `set_id`, `set_name`,
`target` and `state` (the real daemon)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import COMPANIES, CONTACTS, drop, wait_for, write_csv


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_failed_duplicate_and_set_lines_carry_their_fields(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, COMPANIES, log_format="json")
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        (ws.folder("contacts") / "empty.csv").write_bytes(b"")
        drop(write_csv(tmp_path / "one.csv", ["a"], [["1"]]), ws.folder("contacts"))
        wait_for(lambda: len(ws.status()) == 2 and all(r["finished_at"] for r in ws.status()), timeout=120)
        drop(tmp_path / "one.csv", ws.folder("contacts"), "again.csv")
        for part in (1, 2):
            name = f"BasicCompanyData-2026-11-01-part{part}_2.csv"
            drop(write_csv(tmp_path / name, ["CompanyNumber"], [[str(part)]]), ws.folder("companies"))
        wait_for(lambda: sum(r["status"] in ("loaded", "duplicate") for r in ws.status()) == 4, timeout=120)
    entries = [json.loads(line) for line in daemon.output().splitlines() if line.startswith("{")]
    [failed] = [e for e in entries if e.get("event") == "ended" and e.get("state") == "failed"]
    assert "empty" in failed["error"] and Path(failed["path"]).parent.name == "contacts"
    assert Path(failed["path"]).parent.parent.name == "failed" and Path(failed["path"]).exists()
    [duplicate] = [e for e in entries if e.get("event") == "ended" and e.get("state") == "duplicate"]
    loaded_one = next(r["load_id"] for r in ws.status() if r["file_name"] == "one.csv")
    assert duplicate["duplicate_of"] == loaded_one and duplicate["file"] == "again.csv"
    parts = [e for e in entries if e.get("set_id") is not None and e.get("file", "").startswith("BasicCompany")]
    assert {e["state"] for e in parts} == {"waiting", "complete"} and all(e["target"] == "ref.companies" for e in parts)
    [whole] = [e for e in entries if e.get("set_name") and e.get("state") == "loaded"]
    assert (whole["target"], whole["rows"], whole["parts"]) == ("ref.companies", 2, 2)
