"""`ingest-monitor ingest` end to end on SQLite and PostgreSQL: fullload, append,
duplicates, lineage, folders."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import COMPANIES, CONTACTS, write_csv
from requirements import has

from monitor.demo.companies_house import write_companies_house

HEADER = ["First Name", "Last Name", "# Employees", " Company.Name"]


def contacts(path: Path, rows: int, start: int = 0) -> Path:
    return write_csv(path, HEADER, [[f"first{i}", f"last{i}", str(i), f"co {i}"] for i in range(start, start + rows)])


def test_fullload_twice_keeps_the_first_in_bkp(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES)
    first = write_companies_house(tmp_path / "BasicCompanyData-2026-10-01.csv", 30, seed=1, zipped=False)
    second = write_companies_house(tmp_path / "BasicCompanyData-2026-11-01.csv", 45, seed=2, zipped=False)
    ws.cli("ingest", str(first))
    ws.cli("ingest", str(second))
    records = ws.status()
    assert [r["status"] for r in records] == ["loaded", "loaded"]
    first_id, second_id = records[0]["load_id"], records[1]["load_id"]
    assert ws.query("SELECT COUNT(*), MIN(_load_id), MAX(_load_id) FROM ref.companies") == [(45, second_id, second_id)]
    assert ws.query("SELECT COUNT(*), MIN(_load_id), MAX(_load_id) FROM bkp.companies") == [(30, first_id, first_id)]
    numbers = {r[0] for r in ws.query("SELECT company_number FROM ref.companies")}
    assert all(len(n) == 8 for n in numbers) and any(n.startswith("0") for n in numbers)


def test_fullload_keeps_the_configured_number_of_backups(make_workspace, tmp_path):
    ws = make_workspace({**COMPANIES, "backups": 2})
    ids = []
    for seed in range(4):
        path = write_companies_house(tmp_path / f"BasicCompanyData-{seed}.csv", 5 + seed, seed=seed, zipped=False)
        ws.cli("ingest", str(path))
        ids.append(ws.status()[-1]["load_id"])
    assert ws.query("SELECT COUNT(*), MAX(_load_id) FROM ref.companies") == [(8, ids[3])]
    assert ws.query("SELECT COUNT(*), MAX(_load_id) FROM bkp.companies") == [(7, ids[2])]
    older = f"companies__load_{ids[1]}"
    assert ws.query(f'SELECT COUNT(*) FROM bkp."{older}"') == [(6,)]
    assert ws.tables("bkp") == {"companies", older}


def test_append_twice_adds_rows_tagged_with_their_load(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    ws.cli("ingest", str(contacts(tmp_path / "a.csv", 10)))
    ws.cli("ingest", str(contacts(tmp_path / "b.csv", 7, start=100)))
    records = ws.status()
    assert [(r["status"], r["rows_loaded"]) for r in records] == [("loaded", 10), ("loaded", 7)]
    per_load = ws.query("SELECT _load_id, COUNT(*) FROM contacts GROUP BY _load_id ORDER BY _load_id")
    assert per_load == [(records[0]["load_id"], 10), (records[1]["load_id"], 7)]
    row = ws.query("SELECT num_employees, company_name FROM contacts WHERE first_name = 'first100'")
    assert row == [("100", "co 100")]


def test_same_bytes_under_a_new_name_is_a_duplicate(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    original = contacts(tmp_path / "export.csv", 5)
    renamed = tmp_path / "export-copy.csv"
    renamed.write_bytes(original.read_bytes())
    ws.cli("ingest", str(original))
    result = ws.cli("ingest", str(renamed))
    assert "duplicate" in result.stdout
    records = ws.status()
    assert [r["status"] for r in records] == ["loaded", "duplicate"]
    assert records[1]["sha256"] == records[0]["sha256"]
    assert records[1]["rows_loaded"] == 0
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(5,)]


def test_same_name_with_new_content_is_a_new_load(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = tmp_path / "export.csv"
    ws.cli("ingest", str(contacts(path, 3)))
    ws.cli("ingest", str(contacts(path, 4, start=50)))
    assert [r["status"] for r in ws.status()] == ["loaded", "loaded"]
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(7,)]


def test_status_json_has_the_audit_fields_and_column_map(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = contacts(tmp_path / "export.csv", 2)
    ws.cli("ingest", str(path))
    record = ws.status()[0]
    for key in ("file_name", "sha256", "target", "mode", "status", "rows_read", "rows_loaded",
                "rows_rejected", "started_at", "finished_at", "error"):
        assert key in record
    assert record["file_name"] == "export.csv" and record["target"].endswith(".contacts")
    assert record["mode"] == "append" and (record["rows_read"], record["rows_rejected"]) == (2, 0)
    shown = json.loads(ws.cli("show", "--json", str(record["load_id"])).stdout)[0]
    assert {"header": "# Employees", "column": "num_employees"} in shown["column_map"]
    assert {"header": " Company.Name", "column": "company_name"} in shown["column_map"]
    assert [e["status"] for e in shown["events"]] == ["claimed", "loading", "loaded"]


def test_files_in_the_watched_folder_move_to_archive_or_failed(make_workspace):
    ws = make_workspace(CONTACTS)
    folder = ws.folder("contacts")
    good = contacts(folder / "good.csv", 3)
    empty = folder / "empty.csv"
    empty.write_bytes(b"")
    result = ws.cli("ingest", str(good), str(empty), check=False)
    assert result.returncode == 1
    assert "empty.csv" in result.stderr
    assert not good.exists() and not empty.exists()
    archived = list((folder.parent / "archive" / "contacts").rglob("good.csv"))
    assert len(archived) == 1
    year, month, day = archived[0].parent.relative_to(folder.parent / "archive" / "contacts").parts
    assert len(year) == 4 and len(month) == 2 and len(day) == 2
    failed = folder.parent / "failed" / "contacts"
    assert (failed / "empty.csv").exists()
    assert "empty" in (failed / "empty.csv.error.txt").read_text()
    records = {r["file_name"]: r for r in ws.status()}
    assert records["empty.csv"]["status"] == "failed" and "empty" in records["empty.csv"]["error"]


def test_a_file_outside_the_watched_folders_is_copied_not_moved(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = contacts(tmp_path / "outside.csv", 2)
    ws.cli("ingest", str(path))
    assert path.exists()
    assert list((ws.folder("contacts").parent / "archive").rglob("outside.csv"))


def test_companies_house_zip_loads_as_shipped(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES)
    archive = write_companies_house(tmp_path / "BasicCompanyDataAsOneFile-2026-11-01.zip", 500, seed=3)
    ws.cli("ingest", str(archive))
    record = ws.status()[0]
    assert (record["status"], record["rows_read"], record["rows_loaded"]) == ("loaded", 500, 500)
    columns = [entry["column"] for entry in record["column_map"]]
    assert len(columns) == 55 and len(set(columns)) == 55
    assert "company_number" in columns and "reg_address_post_town" in columns
    assert "previous_name_1_company_name" in columns and "conf_stmt_last_made_up_date" in columns
    rows = ws.query("SELECT company_number, uri FROM ref.companies WHERE company_number LIKE '0%'")
    assert rows and all(uri.endswith(number) for number, uri in rows)
    assert ws.query("SELECT COUNT(*) FROM ref.companies WHERE dissolution_date = ''") == [(0,)]


def test_init_db_creates_schemas_and_tables(make_workspace):
    ws = make_workspace(CONTACTS)
    ws.cli("init-db")
    if has(ws.url, "embedded"):  # `ref` and `bkp` are files beside the database's
        assert Path(ws.url.removeprefix("sqlite:///")).with_name("ingest.ref.db").exists()
    assert {"ref", "bkp"} <= ws.schemas()
    assert {"ingest_files", "ingest_events", "ingest_rejects"} <= ws.tables()
