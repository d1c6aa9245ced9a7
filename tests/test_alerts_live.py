"""A real Prometheus scraping the real daemon fires the shipped alerts the first time their
condition happens: each target's counters exist at 0 before any file (so the first failure is
an increase), and the rules on removed folders, refused writes, overdue sets, failed files
needing action, stale targets, stuck loads, a growing queue, a database gone and a daemon that
stopped answering each fire (all but the missing tables, which the daemon recreates within a
second, and which promtool covers). The
`for:` durations (the stuck load's hour, the queue's 15 minutes) are shortened in a copy of the rules, as their
full lengths are unit-tested by promtool (tests/test_deploy.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from conftest import COMPANIES, CONTACTS, PG_ADMIN_URL, DaemonProcess, cli_env, drop, wait_for, write_csv
from psycopg.conninfo import make_conninfo
from test_deploy import RULES, _tool
from test_stream_daemon import snapshot_file
from test_web_status import free_port, get, started

from bench.stream_server import KEY, StreamServer, history

GUARD_AND_STREAM_RULES = {"IngestShrinkRefused", "IngestSwapWaitingForReaders", "IngestStreamDisconnected",
                          "IngestStreamLagging"}  # fired by the second test
ORDERS = {"path": "incoming/orders", "pattern": "*.csv", "table": "orders", "mode": "append"}


def _query(prometheus: str, expr: str) -> list[dict]:
    answer = json.loads(get(f"{prometheus}api/v1/query?query={urllib.parse.quote(expr)}")[2])
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def _firing(prometheus: str, name: str) -> list[dict]:
    alerts = json.loads(get(prometheus + "api/v1/alerts")[2])["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]


def _shortened(tmp_path):
    text = re.sub(r"for: \d+[smh]", "for: 1s", RULES.read_text())
    text = text.replace("ingest_load_in_flight_seconds_max > 3600", "ingest_load_in_flight_seconds_max > 2")
    text = text.replace("ingest_queue_depth[15m]", "ingest_queue_depth[6s]")
    text = text.replace("ingest_swap_waiting_seconds > 60", "ingest_swap_waiting_seconds > 1")
    short = tmp_path / "short.rules.yml"
    short.write_text(text)
    return short


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_each_new_rule_fires_live_and_the_first_failure_alerts(make_workspace, backend_url, tmp_path):
    port, prom_port = free_port(), free_port()
    ws = make_workspace({**CONTACTS, "expected_every_hours": 0.0003}, ORDERS, {**COMPANIES, "set_timeout": 1},
                        http_port=port, workers=1)
    daemon, _ = started(ws, port)
    server = _prometheus(tmp_path, port, prom_port)
    prometheus = f"http://127.0.0.1:{prom_port}/"
    name = backend_url.rsplit("/", 1)[1]
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    fired: dict[str, list[dict]] = {}
    try:
        with daemon:
            born = wait_for(lambda: _query(prometheus, 'ingest_files_total{status="failed"}'), timeout=120)
            assert {(s["metric"]["target"], s["value"][1]) for s in born} == {
                ("public.contacts", "0"), ("public.orders", "0"), ("ref.companies", "0")}, "at 0 before any file"
            time.sleep(2)  # a second scrape at 0 (no timing is asserted)
            (ws.folder("contacts") / "empty.csv").write_bytes(b"")
            fired["IngestFilesFailed"] = wait_for(lambda: _firing(prometheus, "IngestFilesFailed"), timeout=120)
            fired["IngestFailedFilesNeedAction"] = wait_for(
                lambda: _firing(prometheus, "IngestFailedFilesNeedAction"), timeout=120)
            drop(write_csv(tmp_path / "ok.csv", ["a"], [["1"]]), ws.folder("contacts"))
            fired["IngestTargetStale"] = wait_for(lambda: _firing(prometheus, "IngestTargetStale"), timeout=120)
            drop(write_csv(tmp_path / "BasicCompanyData-2026-11-01-part1_2.csv", ["CompanyNumber"], [["1"]]),
                 ws.folder("companies"))
            fired["IngestSetOverdue"] = wait_for(lambda: _firing(prometheus, "IngestSetOverdue"), timeout=120)
            shutil.rmtree(ws.folder("orders"))
            fired["IngestFolderUnavailable"] = wait_for(lambda: _firing(prometheus, "IngestFolderUnavailable"),
                                                        timeout=120)
            fired["IngestWatchingStopped"] = wait_for(lambda: _firing(prometheus, "IngestWatchingStopped"),
                                                      timeout=120)
            with psycopg.connect(**{**info, "dbname": name}) as holder:  # holds a load: stuck
                holder.execute("LOCK TABLE public.contacts IN ACCESS EXCLUSIVE MODE")
                drop(write_csv(tmp_path / "held.csv", ["a"], [["2"]]), ws.folder("contacts"))
                fired["IngestLoadStuck"] = wait_for(lambda: _firing(prometheus, "IngestLoadStuck"), timeout=120)
                for index in range(60):  # one worker, held: each file waits in the queue, which grows
                    drop(write_csv(tmp_path / f"queued-{index}.csv", ["a"], [[str(index)]]), ws.folder("contacts"))
                    if _firing(prometheus, "IngestQueueGrowing"):
                        break
                    time.sleep(1)
                fired["IngestQueueGrowing"] = wait_for(lambda: _firing(prometheus, "IngestQueueGrowing"), timeout=60)
            with psycopg.connect(**info, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            drop(write_csv(tmp_path / "refused.csv", ["a"], [["3"]]), ws.folder("contacts"))
            fired["IngestDatabaseReadOnly"] = wait_for(lambda: _firing(prometheus, "IngestDatabaseReadOnly"),
                                                       timeout=180)
            with psycopg.connect(**info, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            fired["IngestDatabaseDown"] = wait_for(lambda: _firing(prometheus, "IngestDatabaseDown"), timeout=120)
        fired["IngestMonitorDown"] = wait_for(lambda: _firing(prometheus, "IngestMonitorDown"), timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=60)
        with psycopg.connect(**info, autocommit=True) as admin:  # as it was, for the fixture to drop
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
            else:
                admin.execute(f'CREATE DATABASE "{name}"')
    assert fired["IngestFilesFailed"][0]["labels"]["target"] == "public.contacts"
    assert float(fired["IngestFilesFailed"][0]["value"]) >= 1, "the first failure is an increase"
    assert fired["IngestSetOverdue"][0]["labels"]["target"] == "ref.companies"
    assert fired["IngestFolderUnavailable"][0]["labels"]["folder"] == str(ws.folder("orders"))
    assert all(fired.values())
    assert set(fired) | {"IngestSchemaMissing"} | GUARD_AND_STREAM_RULES == set(
        re.findall(r"- alert: (\w+)", RULES.read_text()))


def _prometheus(tmp_path: Path, port: int, prom_port: int) -> subprocess.Popen:
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(_shortened(tmp_path))],
        "scrape_configs": [{"job_name": "ingest-monitor", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }))
    log = (tmp_path / "prometheus.log").open("w")
    return subprocess.Popen([_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)


def _widened(path: Path) -> Path:
    """`path` with one more column (`Extra`), in place."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0] + ",Extra", *(line + ",x" for line in lines[1:])]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_the_guard_swap_and_stream_rules_fire_live(make_workspace, backend_url, tmp_path):
    """A stream whose events were published weeks ago (lagging), then stopped (disconnected); a
    snapshot far smaller than the table (the shrink guard); a reader holding `ref.companies` in
    an open transaction while a snapshot waits to swap (its threshold shortened to a second)."""
    port, prom_port = free_port(), free_port()
    rows = {f"{n:08d}": {"name": f"C{n}", "status": "Active", "post_code": "", "next_due": ""} for n in range(20)}
    fired: dict[str, list[dict]] = {}
    with StreamServer(history(5, 10, start=datetime(2026, 11, 2, 9, 0, 0), deletes=False)) as server:
        stream = {"name": "companies", "url": server.url, "batch_events": 5, "batch_seconds": 0.2,
                  "backoff_initial": 0.2, "backoff_max": 1.0, "idle_timeout": 5.0, "breaker_seconds": 1.0}
        ws = make_workspace(COMPANIES, streams=[stream], http_port=port, rescan_seconds=1.0)
        daemon = DaemonProcess(ws, [], env=cli_env(CH_STREAM_API_KEY=KEY))
        prometheus, server_process = f"http://127.0.0.1:{prom_port}/", _prometheus(tmp_path, port, prom_port)
        try:
            with daemon:
                fired["IngestStreamLagging"] = wait_for(lambda: _firing(prometheus, "IngestStreamLagging"),
                                                        timeout=180)
                drop(snapshot_file(tmp_path / "a", "BasicCompanyDataAsOneFile-2026-11-01.csv", rows),
                     ws.folder("companies"))
                wait_for(lambda: any(r["mode"] == "fullload" and r["status"] == "loaded" for r in ws.status()),
                         timeout=180)
                drop(snapshot_file(tmp_path / "b", "BasicCompanyDataAsOneFile-2026-11-02.csv",
                                   dict(list(rows.items())[:2])), ws.folder("companies"))
                fired["IngestShrinkRefused"] = wait_for(lambda: _firing(prometheus, "IngestShrinkRefused"),
                                                        timeout=180)
                with psycopg.connect(make_conninfo(PG_ADMIN_URL, dbname=backend_url.rsplit("/", 1)[1])) as reader:
                    reader.execute("SELECT COUNT(*) FROM ref.companies").fetchone()  # its transaction stays open
                    drop(_widened(snapshot_file(tmp_path / "c", "BasicCompanyDataAsOneFile-2026-11-03.csv", rows)),
                         ws.folder("companies"))  # a new column: the swap must wait for the reader's lock
                    fired["IngestSwapWaitingForReaders"] = wait_for(
                        lambda: _firing(prometheus, "IngestSwapWaitingForReaders"), timeout=180)
                server.stop()
                fired["IngestStreamDisconnected"] = wait_for(lambda: _firing(prometheus, "IngestStreamDisconnected"),
                                                             timeout=180)
        finally:
            server_process.terminate()
            server_process.wait(timeout=30)
    assert set(fired) == GUARD_AND_STREAM_RULES and all(fired.values())
    assert fired["IngestShrinkRefused"][0]["labels"]["target"] == "ref.companies"
    assert fired["IngestStreamLagging"][0]["labels"]["stream"] == "companies"
