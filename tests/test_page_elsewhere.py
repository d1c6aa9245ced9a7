"""Loads from other processes show in flight on the status page: a CLI `ingest` held by a
table lock appears, read from the database, with who holds it and how long it has run
(the real daemon and CLI on PostgreSQL, the page in headless Chromium)."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest
from conftest import CONTACTS, PG_ADMIN_URL, cli_env, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, started


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_cli_load_shows_in_flight_on_the_daemons_page(make_workspace, backend_url, tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    with daemon, psycopg.connect(**{**info, "dbname": backend_url.rsplit("/", 1)[1]}) as holder:
        drop(write_csv(tmp_path / "first.csv", ["a"], [["1"]]), ws.folder("contacts"))
        wait_for(lambda: [r["status"] for r in ws.status()] == ["loaded"], timeout=120)
        holder.execute("LOCK TABLE public.contacts IN ACCESS EXCLUSIVE MODE")
        big = write_csv(tmp_path / "from-the-cli.csv", ["a"], [[str(i)] for i in range(100)])
        cli = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(ws.config), "ingest", str(big)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ws.root, env=cli_env())
        try:
            status = wait_for(lambda: (s := api(base))["in_flight_elsewhere"] and s, timeout=120)
            page = dump_dom(chromium(), base)
        finally:
            holder.rollback()
            out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, out + err
    [load] = status["in_flight_elsewhere"]
    assert (load["file"], load["target"]) == ("from-the-cli.csv", "public.contacts")
    assert ":cli:" in load["claimed_by"] and load["elapsed_seconds"] >= 0 and status["in_flight"] == []
    row = page.split('data-file="from-the-cli.csv" data-elsewhere="yes"')[1].split("</tr>")[0]
    assert "in another process (" in row and ":cli:" in row
    assert "nothing loading" not in page.split('id="in-flight"')[1].split("</table>")[0]
