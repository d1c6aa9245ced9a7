"""A failure clears once it is resolved: after `retry` loads the file, it leaves the page's
Failures, its load page says what resolved it instead of "retry", its `.error.txt` is set aside
in `failed/resolved/` (kept), and `ingest_files_failed_unresolved` counts it no more (the real
daemon, the real CLI, the page in headless Chromium)."""

from __future__ import annotations

import json

import pytest
from conftest import CONTACTS, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, get, metrics, started


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_retried_failure_leaves_the_list_and_its_note_is_set_aside(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace({**CONTACTS, "required_columns": ["email"]}, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(tmp_path / "people.csv", ["name"], [["ann"]]), ws.folder("contacts"))
        drop(write_csv(tmp_path / "other.csv", ["name"], [["bob"]]), ws.folder("contacts"))
        failed = wait_for(lambda: len((s := api(base))["failures"] or []) == 2 and s["failures"], timeout=120)
        first = next(f for f in failed if f["file_name"] == "people.csv")
        target = first["target"]
        before = metrics(base)[("ingest_files_failed_unresolved", (("target", target),))]
        note = next(ws.root.rglob("people.csv.error.txt"))
        config = json.loads(ws.config.read_text())
        config["folders"][0].pop("required_columns")  # the cause fixed
        ws.config.write_text(json.dumps(config))
        retried = ws.cli("retry", str(first["load_id"]))
        left = wait_for(lambda: len((s := api(base))["failures"]) == 1 and s["failures"], timeout=60)
        after = metrics(base)[("ingest_files_failed_unresolved", (("target", target),))]
        load = json.loads(get(base + f"api/load/{first['load_id']}")[2])
        page = dump_dom(chromium(), base + f"load/{first['load_id']}")
        overview = dump_dom(chromium(), base)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert (before, after) == (2, 1)
    assert [f["file_name"] for f in left] == ["other.csv"]
    assert load["status"] == "failed" and load["resolved_by"]["status"] == "loaded"
    later = load["resolved_by"]["load_id"]
    assert load["hints"][0] == f"resolved: people.csv loaded later as load {later} (loaded); nothing to do"
    assert not any("retry" in hint for hint in load["hints"])
    assert f"loaded later as load {later}" in page and f"retry {first['load_id']}" not in page
    failures = overview.split('id="failures"')[1].split("</table>")[0]
    assert 'data-file="other.csv"' in failures and 'data-file="people.csv"' not in failures
    assert not note.exists(), "moved aside from failed/"
    kept = note.parent / "resolved" / note.name
    assert kept.exists() and f"load id: {first['load_id']}" in kept.read_text()
    assert next(ws.root.rglob("other.csv.error.txt")).parent == note.parent, "the unresolved one stays"
