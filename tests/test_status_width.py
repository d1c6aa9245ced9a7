"""`status` fits 100 columns (or the terminal's width): columns that say nothing are left out
first, then the long ones cut (the real CLI, and the table at other widths)."""

from __future__ import annotations

import pytest
from conftest import CONTACTS, write_csv

from monitor.operate.cli import STATUS_COLUMNS, STATUS_ELASTIC, STATUS_OPTIONAL
from monitor.operate.reports import fitted_table


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_status_fits_100_columns(make_workspace, tmp_path):
    ws = make_workspace({**CONTACTS, "required_columns": ["email"]})
    long_name = "an-export-from-the-crm-with-a-very-long-name-indeed-2026-11-01.csv"
    ws.cli("ingest", str(write_csv(tmp_path / long_name, ["name"], [["ann"]])), check=False)
    ws.cli("ingest", str(write_csv(tmp_path / "ok.csv", ["email"], [["a@x.io"]])))
    out = ws.cli("status").stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100, out
    header = lines[0].split()
    assert header[:2] == ["load_id", "file_name"] and "error" in header and "status" in header, header
    assert "rows_inserted" not in header and "an-export-" in out and "ok.csv" in out


def test_the_table_fits_narrower_and_wider_terminals():
    rows = [{"load_id": 1, "file_name": "x" * 70, "target": "public.contacts", "mode": "append", "status": "failed",
             "rows_read": 0, "rows_loaded": 0, "rows_rejected": 0, "finished_at": "2026-11-01 12:00:00",
             "error": "e" * 300}]
    for limit in (80, 100, 160):
        text = fitted_table(rows, STATUS_COLUMNS, limit, STATUS_OPTIONAL, STATUS_ELASTIC)
        assert max(len(line) for line in text.splitlines()) <= limit, (limit, text)
    wide = fitted_table(rows, STATUS_COLUMNS, 1000, STATUS_OPTIONAL, STATUS_ELASTIC)
    assert "x" * 70 in wide and "e" * 300 in wide and "mode" in wide and "rows_read" not in wide, "0 everywhere"
