"""What deploy/ ships for monitoring: Prometheus alert rules (checked and unit-tested by
promtool), a Grafana dashboard whose every query names metrics the daemon really serves, and a
real Prometheus scraping a real daemon, evaluating the rules and the dashboard's queries."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import psycopg
import pytest
from conftest import COMPANIES, CONTACTS, PG_ADMIN_URL, drop, wait_for, write_csv
from test_web_status import free_port, get, metrics, started

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "ingest-monitor.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "ingest-monitor.rules.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ingest-monitor.json"
METRIC = re.compile(r"\b((?:ingest|process)_[a-z_]+)")
BUILTIN = {"up"}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (apt-get install prometheus; scripts/setup-tests installs it)")
    return found


def test_promtool_checks_the_rules_and_their_unit_tests_pass():
    checked = subprocess.run([_tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0 and "SUCCESS: 12 rules found" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run([_tool("promtool"), "test", "rules", RULE_TESTS.name], capture_output=True, text=True,
                            timeout=120, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    tested_names = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert tested_names == set(re.findall(r"- alert: (\w+)", RULES.read_text())), "every alert has a unit test"


def _dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["__inputs"][0]["type"] == "datasource" and board["panels"]
    queries = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    assert all(query for query in queries) and len(queries) >= len(board["panels"])
    return queries


def _names(query: str) -> set[str]:
    return {name.removesuffix("_bucket") if name.endswith("_bucket") else name for name in METRIC.findall(query)}


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_the_dashboard_and_the_rules_name_only_metrics_the_daemon_serves(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace({**CONTACTS, "expected_every_hours": 24}, COMPANIES, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(tmp_path / "one.csv", ["a"], [["1"], ["2", "x"]]), ws.folder("contacts"))
        wait_for(lambda: any(name == "ingest_target_last_success_timestamp_seconds" for name, _ in metrics(base)),
                 timeout=120)
        served = {name for name, _ in metrics(base)}
    served |= {name.rsplit("_", 1)[0] for name in served if name.endswith(("_bucket", "_count", "_sum"))}
    expressions = "\n".join(line for line in RULES.read_text().splitlines()
                            if not line.strip().startswith(("summary:", "description:", "#")))
    named = set().union(*(_names(query) for query in _dashboard_queries()), _names(expressions))
    assert named - served == set(), f"not served: {named - served}"
    assert {"ingest_target_expected_interval_seconds", "ingest_rows_loaded_total", "ingest_bytes_loaded_total",
            "ingest_files_total", "ingest_database_up", "ingest_queue_depth"} <= named


def _query(prometheus: str, expr: str) -> dict:
    status, _, body = get(f"{prometheus}api/v1/query?query={urllib.parse.quote(expr)}")
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", (expr, body)
    return answer["data"]


def _alerts(prometheus: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for alert in json.loads(get(prometheus + "api/v1/alerts")[2])["data"]["alerts"]:
        found.setdefault(alert["labels"]["alertname"], []).append(alert)
    return found


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_real_prometheus_scrapes_the_daemon_and_evaluates_the_rules(make_workspace, backend_url, tmp_path):
    port, prom_port = free_port(), free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, _ = started(ws, port)
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "ingest-monitor", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }))
    log = (tmp_path / "prometheus.log").open("w")
    server = subprocess.Popen([_tool("prometheus"), f"--config.file={config}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                              stdout=log, stderr=subprocess.STDOUT)
    prometheus = f"http://127.0.0.1:{prom_port}/"
    try:
        with daemon:
            drop(write_csv(tmp_path / "good.csv", ["a"], [["1"], ["2"]]), ws.folder("contacts"))
            wait_for(lambda: _query(prometheus, 'ingest_files_total{status="failed"}')["result"], timeout=120)
            rules = json.loads(get(prometheus + "api/v1/rules")[2])["data"]["groups"][0]["rules"]
            assert len(rules) == 12 and all(rule["health"] == "ok" for rule in rules), rules
            for query in _dashboard_queries():  # each evaluates against the real series
                _query(prometheus, query.replace("$job", "ingest-monitor").replace("$instance", ".*"))
            assert _query(prometheus, 'up{job="ingest-monitor"}')["result"][0]["value"][1] == "1"
            time.sleep(2)  # a scrape with the failed counter at 0, so the failure is an increase
            empty = ws.folder("contacts") / "empty.csv"
            empty.write_bytes(b"")
            firing = wait_for(lambda: [a for a in _alerts(prometheus).get("IngestFilesFailed", [])
                                       if a["state"] == "firing"], timeout=120)
            assert firing[0]["labels"]["target"] == "public.contacts"
            name = backend_url.rsplit("/", 1)[1]
            info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
            with psycopg.connect(**info, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            pending = wait_for(lambda: _alerts(prometheus).get("IngestDatabaseDown"), timeout=120)
            assert pending[0]["state"] == "pending", "for: 2m, so pending first"
            kept = _query(prometheus, 'ingest_rows_loaded_total{target="public.contacts"}')["result"]
            assert kept and kept[0]["value"][1] == "2", "the audit series keep their last value during the outage"
            assert not _alerts(prometheus).get("IngestWatchingStopped")
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
