"""A part of a snapshot set waiting for the rest: its load page names the missing part files
(the real daemon, the page in headless Chromium)."""

from __future__ import annotations

import json

import pytest
from conftest import COMPANIES, drop, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, get, started


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_waiting_part_names_the_part_files_still_missing(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace(COMPANIES, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        name = "BasicCompanyData-2026-11-01-part2_3.csv"
        drop(write_csv(tmp_path / name, ["CompanyNumber"], [["1"]]), ws.folder("companies"))
        [load] = wait_for(lambda: [x for x in api(base)["loads"] or [] if x["status"] == "waiting"], timeout=120)
        item = json.loads(get(base + f"api/load/{load['load_id']}")[2])
        page = dump_dom(chromium(), base + f"load/{load['load_id']}")
    expected = ("waiting for its set's missing part(s): BasicCompanyData-2026-11-01-part1_3.csv, "
                "BasicCompanyData-2026-11-01-part3_3.csv; drop them into the same folder")
    assert item["hints"][0] == expected
    assert expected in page
