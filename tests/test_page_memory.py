"""The page keeps its memory: the daemon reads what the page shows in the background, so
when the database goes away while nobody has the page open, the page still shows the last
known loads with the time they were read, since when the database is away and when the next
try is (the real daemon on PostgreSQL, the page in headless Chromium)."""

from __future__ import annotations

import time

import psycopg
import pytest
from conftest import CONTACTS, PG_ADMIN_URL, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, started

from monitor.operate.web import REFRESH_SECONDS


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_an_outage_shows_the_last_known_state_though_nobody_had_the_page_open(make_workspace, backend_url,
                                                                           tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(tmp_path / "kept.csv", ["a"], [["1"]]), ws.folder("contacts"))
        wait_for(lambda: [r["status"] for r in ws.status()] == ["loaded"], timeout=120)  # the CLI, not the page
        time.sleep(3 * REFRESH_SECONDS)  # a background read after the load (nothing is timed)
        name = backend_url.rsplit("/", 1)[1]
        info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
        with psycopg.connect(**info, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        drop(write_csv(tmp_path / "waits.csv", ["a"], [["2"]]), ws.folder("contacts"))
        status = wait_for(lambda: (s := api(base))["outage"] and s, timeout=120)
        page = dump_dom(chromium(), base)
    assert [load["file_name"] for load in status["loads"]] == ["kept.csv"] and status["stale_since"]
    assert status["outage"]["since"] and status["outage"]["next_try_seconds"] >= 0
    assert 'data-file="kept.csv" data-status="loaded"' in page
    assert "the database does not answer since " in page and "next try in " in page
    assert f"showing what it said at {status['stale_since'][:13]}" in page
