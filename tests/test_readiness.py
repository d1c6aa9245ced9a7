"""Health means "files can load": a watched folder removed, a read-only database and a loader
role that may not create tables each make /health 503 with the cause named (also in /metrics,
on the page in headless Chromium and in one log line when it starts and one when it ends),
while the files wait, visible; all against the real daemon process."""

from __future__ import annotations

import json
import shutil
import uuid

import psycopg
import pytest
from conftest import CONTACTS, PG_ADMIN_URL, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, get, metrics, started

ORDERS = {"path": "incoming/orders", "pattern": "*.csv", "table": "orders", "mode": "append"}


def _health(base: str) -> tuple[int, dict]:
    status, _, body = get(base + "health")
    return status, json.loads(body)


def _admin(dbname: str | None = None) -> psycopg.Connection:
    conninfo = psycopg.conninfo.make_conninfo(PG_ADMIN_URL, **({"dbname": dbname} if dbname else {}))
    return psycopg.connect(conninfo, autocommit=True)


def _loaded(base: str, name: str) -> bool:
    return any((x["file_name"], x["status"]) == (name, "loaded") for x in api(base)["loads"] or [])


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_removed_watched_folder_is_unhealthy_named_and_watched_again_when_back(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, ORDERS, http_port=port)
    daemon, base = started(ws, port)
    gone = ws.folder("orders")
    with daemon:
        shutil.rmtree(gone)
        _status, body = wait_for(lambda: (h := _health(base))[0] == 503 and h, timeout=60)
        samples = metrics(base)
        dom = dump_dom(chromium(), base)
        said = f"watched folder {gone} does not exist"  # looked at every 2 s: a shorter gap may go unsaid
        wait_for(lambda: said in daemon.output(), timeout=60)
        gone.mkdir()
        wait_for(lambda: _health(base)[0] == 200, timeout=60)
        drop(write_csv(tmp_path / "after.csv", ["a"], [["1"]]), gone)
        wait_for(lambda: _loaded(base, "after.csv"), timeout=120)
    assert body["watching"] is False and body["database"] is True
    assert body["folders"] == {str(gone): False, str(ws.folder("contacts")): True}
    assert body["causes"] == [f"watched folder {gone} does not exist: files there cannot load"]
    assert samples[("ingest_folder_ready", (("folder", str(gone)),))] == 0
    assert samples[("ingest_folder_ready", (("folder", str(ws.folder("contacts"))),))] == 1
    assert samples[("ingest_watching", ())] == 0 and samples[("ingest_ready", ())] == 0
    assert f"watched folder {gone} does not exist: files there cannot load" in dom and 'class="cause"' in dom
    log = daemon.output()
    assert log.count(said) == 1, log
    assert log.count(f"watched folder {gone} is back") == 1


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_read_only_database_pauses_loads_with_the_cause_named_and_the_file_waits(make_workspace, backend_url,
                                                                                 tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    ws.cli("init-db")
    name = backend_url.rsplit("/", 1)[1]
    with _admin() as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    base = f"http://127.0.0.1:{port}/"
    with ws.daemon() as daemon:
        status, body = wait_for(lambda: (h := _health(base))[1]["causes"] and h, timeout=120)
        drop(write_csv(tmp_path / "waits.csv", ["a"], [["1"]]), ws.folder("contacts"))
        overview = wait_for(lambda: (s := api(base))["queue"]["waiting"] == 1 and s, timeout=120)
        samples = metrics(base)
        dom = dump_dom(chromium(), base)
        with _admin() as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = off')
        wait_for(lambda: _loaded(base, "waits.csv"), timeout=180)
        assert _health(base)[0] == 200
    assert status == 503 and body["database"] is True and body["schema"] is True and body["writable"] is False
    cause = f"the database {name} is read-only (default_transaction_read_only is on): no file can load"
    assert any(cause in line for line in body["causes"]), body["causes"]
    assert any(cause in line for line in overview["causes"]) and overview["loads"] == []
    assert samples[("ingest_database_writable", ())] == 0 and samples[("ingest_database_up", ())] == 1
    assert samples[("ingest_ready", ())] == 0
    assert cause in dom and 'class="cause"' in dom
    log = daemon.output()
    assert log.count(f"loads paused: {cause}") == 1 and log.count("database available again") == 1, log
    assert "unexpected error" not in log and "INSERT INTO" not in log
    assert max(len(line) for line in log.splitlines()) < 600


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_loader_role_without_create_is_named_by_check_config_health_and_the_log(make_workspace, backend_url,
                                                                                tmp_path):
    role = f"im_loader_{uuid.uuid4().hex[:8]}"
    name = backend_url.rsplit("/", 1)[1]
    with _admin() as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        port = free_port()
        url = backend_url.replace("postgres@", f"{role}@")
        ws = make_workspace(CONTACTS, http_port=port, database_url=url)
        checked = ws.cli("check-config", check=False)
        base = f"http://127.0.0.1:{port}/"
        with ws.daemon() as daemon:
            _status, body = wait_for(lambda: (h := _health(base))[0] == 503 and h[1]["causes"] and h, timeout=120)
            drop(write_csv(tmp_path / "waits.csv", ["a"], [["1"]]), ws.folder("contacts"))
            wait_for(lambda: api(base)["queue"]["waiting"] == 1, timeout=120)
            with _admin(name) as admin:
                admin.execute(f'GRANT CREATE ON DATABASE "{name}" TO "{role}"')
                admin.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
            wait_for(lambda: _loaded(base, "waits.csv"), timeout=180)
    finally:
        with _admin(name) as admin:
            admin.execute(f'DROP OWNED BY "{role}" CASCADE')
        with _admin() as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
    cause = f"the loader's role {role} may not create tables in the schema public (GRANT CREATE ON SCHEMA public"
    assert checked.returncode != 0 and cause in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    assert body["database"] is True and body["schema"] is False
    assert any(cause in line for line in body["causes"]), body["causes"]
    log = daemon.output()
    assert log.count(f"loads paused: {cause}") == 1 and "unexpected error" not in log
