"""Merge end to end, through the real `ingest` command and the real daemon on each database:
a first export inserts; the next updates some keys, inserts others, repeats a key (the last row
wins), has an empty key (rejected) and a column the table lacks (added); the replaced versions
are in history; the same bytes again are a duplicate; `replay` applies a file again on purpose;
kill -9 mid-merge leaves the table before or after, and the restart applies it exactly once;
two files merging into one target at once are serialised, both applied, nothing lost."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import psycopg
import pytest
from conftest import cli_env, drop, wait_for, write_csv
from sqlalchemy.engine import make_url
from test_web_status import api, free_port, metrics

from monitor.backends import backend_class, open_backend

HEADER = ["First Name", "Last Name", "Title", "Email", "Mobile Phone"]
CONTACTS = {"path": "incoming/contacts", "pattern": "*.csv", "table": "contacts", "mode": "merge",
            "key_columns": ["Email"], "key_normalise": ["trim", "lower"], "null_values": ["", "N/A"]}


def history_table(ws, reference: bool = False) -> str:
    """Where the history of `contacts` is, as its backend places it (SQLite: beside its table, in
    the same file)."""
    backend = open_backend(ws.url)
    try:
        place = backend.history_of(backend.schema_for(reference), "contacts")
    finally:
        backend.dispose()
    return f"{place.schema}.{place.table}"


def records(ws) -> dict[str, dict]:
    return {r["file_name"]: r for r in ws.status()}


def status_of(ws, name: str) -> str | None:
    found = ws.query("SELECT status FROM ingest_files WHERE file_name = :n", n=name)
    return found[0][0] if found else None


def counts(record: dict) -> tuple:
    return tuple(record[key] for key in ("status", "rows_read", "rows_loaded", "rows_rejected", "rows_inserted",
                                         "rows_updated", "rows_unchanged", "rows_superseded"))


def test_exports_merge_through_ingest_and_the_daemon(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, http_port=0)
    first = write_csv(tmp_path / "export-1.csv", HEADER, [
        ["Ann", "Lee", "CEO", "ann@x.com", "+44 7700 900001"],
        ["Bob", "Ray", "CTO", "Bob@X.com", "+44 7700 900002"],
        ["Cy", "Moe", "CFO", "cy@x.com", "N/A"],
    ])
    ws.cli("ingest", str(first))
    load_1 = records(ws)["export-1.csv"]
    assert counts(load_1) == ("loaded", 3, 3, 0, 3, 0, 0, 0)

    second = write_csv(tmp_path / "export-2.csv", [*HEADER, "Seniority"], [
        ["Bob", "Ray", "CEO", " BOB@x.com ", "+44 7700 900002", "c_suite"],  # updated (its key normalised)
        ["Di", "Oh", "COO", "di@x.com", "+44 7700 900004", "c_suite"],  # new, then repeated below
        ["Ann", "Lee", "CEO", "ann@x.com", "+44 7700 900001", ""],  # unchanged
        ["Nobody", "", "Intern", "", "", ""],  # an empty key: rejected
        ["Dee", "Oh", "COO", "di@x.com", "+44 7700 900005", "vp"],  # the last row of di@x.com wins
    ])
    with ws.daemon() as daemon:
        drop(second, ws.folder("contacts"))
        wait_for(lambda: status_of(ws, "export-2.csv") == "loaded", timeout=120)
        drop(second, ws.folder("contacts"), "export-2-again.csv")
        wait_for(lambda: status_of(ws, "export-2-again.csv") == "duplicate", timeout=120)
    assert daemon.proc.returncode == 0
    found = records(ws)
    load_2 = found["export-2.csv"]
    assert counts(load_2) == ("loaded", 5, 3, 1, 1, 1, 1, 1)
    assert "di@x.com" in load_2["error"] and load_2["error"].startswith("warning:")
    assert found["export-2-again.csv"]["duplicate_of"] == load_2["load_id"]

    ids = {1: load_1["load_id"], 2: load_2["load_id"]}
    rows = ws.query("SELECT email, first_name, title, mobile_phone, seniority, _load_id FROM contacts ORDER BY email")
    assert rows == [("ann@x.com", "Ann", "CEO", "+44 7700 900001", None, ids[1]),
                    ("bob@x.com", "Bob", "CEO", "+44 7700 900002", "c_suite", ids[2]),
                    ("cy@x.com", "Cy", "CFO", None, None, ids[1]),
                    ("di@x.com", "Dee", "COO", "+44 7700 900005", "vp", ids[2])]
    assert ws.query(f"SELECT email, title, seniority, _load_id, _replaced_by FROM {history_table(ws)}") == [
        ("bob@x.com", "CTO", None, ids[1], ids[2])]
    assert ws.query("SELECT line_number, column_name, reason, raw FROM ingest_rejects WHERE load_id = :l",
                    l=ids[2]) == [(5, "email", "empty key column email", "Nobody,,Intern,,,")]

    shown = ws.cli("show", str(ids[2])).stdout
    assert "merged        inserted 1, updated 1, unchanged 1, superseded 1" in shown
    listed = json.loads(ws.cli("status", "--target", "contacts", "--json").stdout)  # the table fits 100 columns
    assert [(r["rows_inserted"], r["rows_updated"]) for r in listed if r["load_id"] == ids[2]] == [(1, 1)]
    assert ws.query("SELECT rows_inserted, rows_updated FROM ingest_recent_loads WHERE load_id = :l",
                    l=ids[2]) == [(1, 1)]

    replay = ws.cli("replay", str(ids[1]))
    assert replay.returncode == 0
    again = max(ws.status(), key=lambda r: r["load_id"])
    assert (again["replay_of"], *counts(again)) == (ids[1], "loaded", 3, 3, 0, 0, 1, 2, 0)
    assert ws.query("SELECT title, seniority, _load_id FROM contacts WHERE email = 'bob@x.com'") == [
        ("CTO", "c_suite", again["load_id"])]  # the file's columns replaced, the others kept
    assert sorted(ws.query(f"SELECT title, _load_id, _replaced_by FROM {history_table(ws)}")) == [
        ("CEO", ids[2], again["load_id"]), ("CTO", ids[1], ids[2])]


def test_check_config_refuses_a_merge_rule_without_key_columns(tmp_path):
    (tmp_path / "in").mkdir()
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'ingest.db'}", "folders": [
        {"path": str(tmp_path / "in"), "table": "contacts", "mode": "merge"}]}))
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "check-config"],
                            capture_output=True, text=True, env=cli_env(), timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert "  - folders.0: " in result.stdout
    assert 'mode "merge" needs key_columns' in result.stdout


def _export(path, keys: range, version: str):
    return write_csv(path, ["Email", "Name", "Version"], [[f"user{i}@x.com", f"name {i}", version] for i in keys])


@pytest.mark.parametrize("reference", [False, True], ids=["main", "ref"])
def test_kill_9_mid_merge_then_restart_applies_it_exactly_once(make_workspace, tmp_path, reference):
    rule = {**CONTACTS, "reference": reference}
    ws = make_workspace(rule, http_port=0, settle_seconds=0.2)
    table = "ref.contacts" if reference else "contacts"
    size = 60_000
    ws.cli("ingest", str(_export(tmp_path / "base.csv", range(size), "v1")))
    # 10 % of the keys changed, 10 % new, the rest as they are
    changed, new = range(size - size // 10, size), range(size, size + size // 10)
    rows = [[f"user{i}@x.com", f"name {i}", "v2" if i in changed or i in new else "v1"]
            for i in range(size // 10, size + size // 10)]
    update = write_csv(tmp_path / "update.csv", ["Email", "Name", "Version"], rows)
    history = history_table(ws, reference)

    def state() -> tuple[int, int]:
        by_load = ws.query(f"SELECT COUNT(*) FROM {table} WHERE version = 'v2'")[0][0]
        return by_load, ws.query(f"SELECT COUNT(*) FROM {history}")[0][0]

    took = ws.status()[0]["duration_ms"] / 1000  # the base export's load: about as long as this one
    daemon = ws.daemon()
    wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
    drop(update, ws.folder("contacts"))
    wait_for(lambda: status_of(ws, "update.csv") == "loading", timeout=120, interval=0.02)
    time.sleep(random.uniform(0.0, took))
    daemon.kill()
    print(f"killed while update.csv was {status_of(ws, 'update.csv')}")
    assert state() in ((0, 0), (len(changed) + len(new), len(changed)))  # before, or after: never between

    with ws.daemon() as daemon:
        wait_for(lambda: status_of(ws, "update.csv") == "loaded", timeout=240, interval=0.5)
    record = records(ws)["update.csv"]
    assert (record["rows_loaded"], record["rows_inserted"], record["rows_updated"], record["rows_unchanged"]) == (
        size, len(new), len(changed), size - len(changed) - size // 10)
    assert state() == (len(changed) + len(new), len(changed))
    assert ws.query(f"SELECT COUNT(*), COUNT(DISTINCT email) FROM {table}") == [(size + len(new),) * 2]
    assert ws.query(f"SELECT COUNT(*) FROM {table} WHERE _load_id = :l", l=record["load_id"]) == [
        (len(changed) + len(new),)]
    assert ws.query(f"SELECT MIN(_replaced_by), MAX(_replaced_by), COUNT(DISTINCT email) FROM {history}") == [
        (record["load_id"], record["load_id"], len(changed))]
    assert [r["status"] for r in ws.status()] == ["loaded", "loaded"]


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_two_files_merging_into_one_target_at_once_are_serialised_and_both_applied(make_workspace, tmp_path,
                                                                                    backend_url):
    ws = make_workspace(CONTACTS, http_port=0, workers=4, settle_seconds=0.2)
    ws.cli("ingest", str(_export(tmp_path / "base.csv", range(0, 100), "base")))
    a, b = _export(tmp_path / "a.csv", range(50, 150), "a"), _export(tmp_path / "b.csv", range(100, 200), "b")
    info = psycopg.conninfo.conninfo_to_dict(backend_url.replace("postgresql+psycopg", "postgresql"))
    with ws.daemon(), psycopg.connect(**info, autocommit=True) as holder:
        # holding the target's lock: both loads start and wait for it, then run one after the other
        holder.execute("SELECT pg_advisory_lock(hashtextextended('ingest-monitor:public.contacts', 0))")
        drop(a, ws.folder("contacts"))
        drop(b, ws.folder("contacts"))
        wait_for(lambda: [status_of(ws, n) for n in ("a.csv", "b.csv")] == ["loading"] * 2, timeout=120)
        holder.execute("SELECT pg_advisory_unlock_all()")
        wait_for(lambda: [status_of(ws, n) for n in ("a.csv", "b.csv")] == ["loaded"] * 2, timeout=120)
    found = records(ws)
    order = [name for _, name in sorted(ws.query("SELECT merged_at, f.file_name FROM ingest_merges m "
                                                 "JOIN ingest_files f ON f.load_id = m.load_id "
                                                 "WHERE f.file_name IN ('a.csv', 'b.csv')"))]
    later = order[1][0]  # 'a' or 'b': its rows 100..149 won
    expected = {**{i: "base" for i in range(0, 50)}, **{i: "a" for i in range(50, 100)},
                **{i: later for i in range(100, 150)}, **{i: "b" for i in range(150, 200)}}
    rows = ws.query("SELECT email, version FROM contacts")
    assert {int(email[4:-6]): version for email, version in rows} == expected and len(rows) == 200
    serial = {"a.csv": {"a.csv": (50, 50), "b.csv": (50, 50)},  # (inserted, updated) in each order
              "b.csv": {"b.csv": (100, 0), "a.csv": (0, 100)}}[order[0]]
    assert {name: (found[name]["rows_inserted"], found[name]["rows_updated"]) for name in order} == serial
    assert ws.query("SELECT COUNT(*) FROM bkp.contacts__history") == [(sum(u for _, u in serial.values()),)]


def test_an_export_read_as_it_is_still_rejects_its_empty_keys(make_workspace, tmp_path):
    """Without key normalisation the database may read the file itself; a staged empty key
    sends the file back through the reader, which rejects it with its line."""
    ws = make_workspace({**CONTACTS, "key_normalise": [], "null_values": [""]}, http_port=0)
    clean = write_csv(tmp_path / "clean.csv", ["Email", "Name"], [["a@x.com", "Ann"], ["b@x.com", "Bob"]])
    reads_files = backend_class(make_url(ws.url).get_backend_name()).reads_files  # not SQL Server
    fast = ws.cli("ingest", "-v", str(clean))
    assert ("reading the file record by record" not in fast.stderr) is reads_files, fast.stderr
    holed = write_csv(tmp_path / "holed.csv", ["Email", "Name"], [["a@x.com", "Ann Lee"], [" ", "Nobody"],
                                                                   ["c@x.com", "Cy"]])
    slow = ws.cli("ingest", "-v", str(holed))
    again = "rows with an empty key among the rows staged; reading it again record by record"
    assert (again in slow.stderr) is reads_files, slow.stderr
    record = records(ws)["holed.csv"]
    assert counts(record) == ("loaded", 3, 2, 1, 1, 1, 0, 0)
    assert ws.query("SELECT line_number, reason, raw FROM ingest_rejects WHERE load_id = :l",
                    l=record["load_id"]) == [(3, "empty key column email", " ,Nobody")]
    assert ws.query("SELECT email, name FROM contacts ORDER BY email") == [
        ("a@x.com", "Ann Lee"), ("b@x.com", "Bob"), ("c@x.com", "Cy")]


@pytest.mark.parametrize("backend_url", ["sqlite", "postgresql"], indirect=True)
def test_the_status_page_and_metrics_count_what_a_merge_inserted_and_updated(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    ws.cli("ingest", str(_export(tmp_path / "one.csv", range(0, 4), "v1")))
    with ws.daemon():
        base = f"http://127.0.0.1:{port}/"
        wait_for(lambda: api(base)["loads"], timeout=120)
        drop(_export(tmp_path / "two.csv", range(2, 7), "v2"), ws.folder("contacts"))
        wait_for(lambda: status_of(ws, "two.csv") == "loaded", timeout=120)
        loads = {load["file_name"]: load for load in api(base)["loads"]}
        samples = metrics(base)
    assert (loads["two.csv"]["rows_inserted"], loads["two.csv"]["rows_updated"]) == (3, 2)
    target = loads["two.csv"]["target"]
    assert samples[("ingest_rows_inserted_total", (("target", target),))] == 4 + 3
    assert samples[("ingest_rows_updated_total", (("target", target),))] == 2


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_a_merge_on_pythons_own_sqlite_module_gives_the_same_table(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, http_port=0, backend={"sqlite": {"driver": "sqlite3"}})
    ws.cli("ingest", str(_export(tmp_path / "one.csv", range(0, 4), "v1")))
    ws.cli("ingest", str(write_csv(tmp_path / "two.csv", ["Email", "Name", "Version"], [
        ["USER1@x.com ", "name 1", "v2"], ["user9@x.com", "name 9", "v2"], ["user9@x.com", "nine", "v2"]])))
    assert counts(records(ws)["two.csv"]) == ("loaded", 3, 2, 0, 1, 1, 0, 1)
    assert ws.query("SELECT email, name, version FROM contacts ORDER BY email") == [
        ("user0@x.com", "name 0", "v1"), ("user1@x.com", "name 1", "v2"), ("user2@x.com", "name 2", "v1"),
        ("user3@x.com", "name 3", "v1"), ("user9@x.com", "nine", "v2")]
    assert ws.query(f"SELECT email, version FROM {history_table(ws)}") == [("user1@x.com", "v1")]
