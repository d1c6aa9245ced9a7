"""Freshness per target on the status page: how long ago each target last loaded, how often
its rule expects a file, and a stale mark past that (the real daemon, headless Chromium)."""

from __future__ import annotations

import re

import pytest
from conftest import CONTACTS, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, started


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_each_target_shows_its_age_expected_interval_and_a_stale_mark(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace({**CONTACTS, "expected_every_hours": 0.0005},
                        {**CONTACTS, "path": "incoming/people", "table": "people"}, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(tmp_path / "c.csv", ["a"], [["1"]]), ws.folder("contacts"))
        drop(write_csv(tmp_path / "p.csv", ["a"], [["2"]]), ws.folder("people"))
        # both loaded (a target not loaded yet is stale too), and contacts past its interval
        targets = wait_for(lambda: len(t := api(base)["targets"] or []) == 2
                           and all(x["age_seconds"] is not None for x in t)
                           and any(x["stale"] for x in t) and t, timeout=120)
        dom = dump_dom(chromium(), base)
    by_name = {t["target"]: t for t in targets}
    assert by_name["main.contacts"]["expected_seconds"] == pytest.approx(1.8)
    assert by_name["main.contacts"]["age_seconds"] >= 0 and by_name["main.contacts"]["stale"] is True
    assert by_name["main.people"]["expected_seconds"] is None and by_name["main.people"]["stale"] is False
    row = dom.split('data-target="main.contacts" data-stale="true"')[1].split("</tr>")[0]
    assert re.search(r">\d+ s \(stale\)</td>", row) and "2 s</td>" in row, row  # its age, stale; every 2 s
    other = dom.split('data-target="main.people" data-stale="false"')[1].split("</tr>")[0]
    assert "(stale)" not in other
