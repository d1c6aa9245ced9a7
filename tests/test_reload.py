"""SIGHUP reloads a running daemon's configuration: rules added, removed and changed apply at
once, a load in flight finishes under the rule it started with, and a broken configuration is
refused in one line while the running one goes on (the real daemon process, PostgreSQL)."""

from __future__ import annotations

import json
import signal

import psycopg
import pytest
from conftest import CONTACTS, drop, wait_for, write_csv
from test_web_status import api, free_port, started

ORDERS = {"path": "incoming/orders", "pattern": "*.csv", "table": "orders", "mode": "append"}
RETURNS = {"path": "incoming/returns", "pattern": "*.csv", "table": "returns", "mode": "append"}


def _statuses(ws) -> dict[str, str]:
    return {record["file_name"]: record["status"] for record in ws.status()}


def _rewrite(ws, rules: list[dict], **settings) -> None:
    config = json.loads(ws.config.read_text())
    for rule in rules:
        (ws.root / rule["path"]).mkdir(parents=True, exist_ok=True)
    config["folders"] = [{**rule, "path": str(ws.root / rule["path"])} for rule in rules]
    config.update(settings)
    ws.config.write_text(json.dumps(config))


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_sighup_applies_added_and_removed_rules_and_keeps_the_load_in_flight(make_workspace, backend_url,
                                                                           tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, ORDERS, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(tmp_path / "first.csv", ["a"], [["1"]]), ws.folder("orders"))
        wait_for(lambda: _statuses(ws).get("first.csv") == "loaded", timeout=120)
        with psycopg.connect(backend_url.replace("+psycopg", "")) as blocker:  # holds the next orders load
            blocker.execute("LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE")
            drop(write_csv(tmp_path / "second.csv", ["a"], [["2"], ["3"]]), ws.folder("orders"))
            wait_for(lambda: [x for x in api(base)["in_flight"] if x["file"] == "second.csv"], timeout=120)
            # orders (in flight) removed, returns added, contacts changed; the port is fixed at start
            _rewrite(ws, [{**CONTACTS, "pattern": "*.txt"}, RETURNS], http_port=port + 1)
            daemon.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "configuration reloaded" in daemon.output(), timeout=60)
            assert daemon.proc.poll() is None
        wait_for(lambda: _statuses(ws).get("second.csv") == "loaded", timeout=120)
        drop(write_csv(tmp_path / "back.csv", ["a"], [["4"]]), ws.root / RETURNS["path"])
        drop(write_csv(tmp_path / "people.txt", ["a"], [["5"]]), ws.folder("contacts"))
        wait_for(lambda: {"back.csv", "people.txt"} <= {k for k, v in _statuses(ws).items() if v == "loaded"},
                 timeout=120)
        drop(write_csv(tmp_path / "late.csv", ["a"], [["6"]]), ws.folder("orders"))  # no rule watches it now
        drop(write_csv(tmp_path / "skipped.csv", ["a"], [["7"]]), ws.folder("contacts"))  # pattern is *.txt now
        drop(write_csv(tmp_path / "after.csv", ["a"], [["8"]]), ws.root / RETURNS["path"])
        wait_for(lambda: _statuses(ws).get("after.csv") == "loaded", timeout=120)
        assert api(base)["watching"]
    log = daemon.output()
    assert ws.query("SELECT a FROM public.orders ORDER BY a") == [("1",), ("2",), ("3",)]
    assert ws.query("SELECT a FROM public.returns ORDER BY a") == [("4",), ("8",)]
    assert "late.csv" not in _statuses(ws) and "skipped.csv" not in _statuses(ws)
    assert (ws.folder("orders") / "late.csv").exists() and (ws.folder("contacts") / "skipped.csv").exists()
    assert "reload: rule added: returns (folder" in log and "reload: rule removed: orders (folder" in log
    assert "reload: rule changed: contacts (pattern '*.csv' -> '*.txt')" in log
    assert "reload: http_port changed; kept as running until a restart" in log
    assert "no longer watching" in log and "Traceback" not in log


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_sighup_with_a_broken_configuration_is_refused_in_one_line_and_the_daemon_goes_on(make_workspace,
                                                                                        tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    env = ws.root / ".env"
    env.write_text("INGEST_INSTANCE=first-name\n")
    daemon, base = started(ws, port)
    with daemon:
        good = ws.config.read_text()
        broken = json.loads(good)
        broken["folders"][0]["mode"] = "sideways"
        broken["workerz"] = 3
        ws.config.write_text(json.dumps(broken))
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in daemon.output(), timeout=60)
        ws.config.write_text(good)
        _rewrite(ws, [CONTACTS, {**RETURNS, "path": "incoming/not-there"}])
        (ws.root / "incoming" / "not-there").rmdir()
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.output().count("reload refused") == 2, timeout=60)
        ws.config.write_text("{not json")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.output().count("reload refused") == 3, timeout=60)
        drop(write_csv(tmp_path / "still.csv", ["a"], [["1"]]), ws.folder("contacts"))
        wait_for(lambda: [x for x in api(base)["loads"] if (x["file_name"], x["status"]) == ("still.csv", "loaded")],
                 timeout=120)
        ws.config.write_text(good)
        env.write_text("INGEST_INSTANCE=second-name\n")  # read again: fixed at start, so said
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in daemon.output(), timeout=60)
        assert daemon.proc.poll() is None and api(base)["watching"]
    refused = [line for line in daemon.output().splitlines() if "reload refused" in line]
    assert len(refused) == 3
    assert "folders.0.mode" in refused[0] and "workerz" in refused[0]
    assert "not-there: the folder does not exist" in refused[1]
    assert "not valid JSON" in refused[2]
    assert "reload: instance changed; kept as running until a restart" in daemon.output()
