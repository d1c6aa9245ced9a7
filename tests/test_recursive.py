"""Recursive watching, a rule option: files dropped into subfolders (made after the start)
load through native events and through polling, the pattern may name subfolders, and a
pattern that cannot match as written (`**/*.csv` without `recursive`) is refused by
`check-config` and `run` (the real daemon and CLI)."""

from __future__ import annotations

import json

import pytest
from conftest import CONTACTS, drop, wait_for, write_csv

from monitor.operate.exits import Exit


@pytest.mark.parametrize("observer", ["native", "polling"])
@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_files_in_subfolders_load_when_the_rule_is_recursive(make_workspace, tmp_path, observer):
    ws = make_workspace({**CONTACTS, "pattern": "**/*.csv", "recursive": True, "observer": observer,
                         "poll_interval": 0.5})
    folder = ws.folder("contacts")
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        deep = folder / "2026" / "11"
        deep.mkdir(parents=True)
        drop(write_csv(tmp_path / "deep.csv", ["a"], [["1"]]), deep)
        drop(write_csv(tmp_path / "top.csv", ["a"], [["2"]]), folder)
        (folder / ".hidden").mkdir()
        drop(write_csv(tmp_path / "secret.csv", ["a"], [["3"]]), folder / ".hidden")
        wait_for(lambda: {r["file_name"] for r in ws.status() if r["status"] == "loaded"} == {"deep.csv", "top.csv"},
                 timeout=120)
    assert sorted(ws.query("SELECT a FROM contacts")) == [("1",), ("2",)]
    assert not (deep / "deep.csv").exists() and not (folder / "top.csv").exists(), "moved out, not copied"
    assert (folder / ".hidden" / "secret.csv").exists(), "hidden subfolders are left alone"
    assert "with its subfolders" in daemon.output()


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_pattern_naming_subfolders_without_recursive_is_refused(make_workspace):
    ws = make_workspace({**CONTACTS, "pattern": "**/*.csv"})
    checked = ws.cli("check-config", check=False)
    ran = ws.cli("run", check=False, timeout=60)
    for result in (checked, ran):
        assert result.returncode == Exit.USAGE, result.stdout + result.stderr
        said = result.stdout + result.stderr
        assert "folders.0: Value error, pattern '**/*.csv' names a subfolder" in said, said
        assert 'set "recursive": true' in said
    config = json.loads(ws.config.read_text())
    config["folders"][0]["recursive"] = True
    ws.config.write_text(json.dumps(config))
    assert ws.cli("check-config", check=False).returncode == Exit.OK
