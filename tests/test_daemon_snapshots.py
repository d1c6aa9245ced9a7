"""Snapshots through the real daemon over real files, on every backend: a 7-part set dropped out
of order with pauses (the table changes once, to the whole set), a part sent again, an older
snapshot after a newer one, a replay of it, an unrelated header; a failing part; kill -9
while a set loads; a set left incomplete (reported, never loaded)."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from pathlib import Path

from conftest import COMPANIES, drop, wait_for, write_csv
from sqlalchemy import text

from monitor.backends import open_backend
from monitor.demo.ch_parts import one_file_name, write_companies_house_parts
from monitor.demo.companies_house import write_companies_house

PARTS = 7
COUNTS = "SELECT COUNT(*), COUNT(DISTINCT _load_id), MIN(_load_id), MAX(_load_id) FROM {table}"


def audit(ws) -> dict[str, tuple[str, int | None, str | None]]:
    """file name -> (status, set id, error) of its latest audit row."""
    rows = ws.query("SELECT file_name, status, set_id, error FROM ingest_files ORDER BY load_id")
    return {name: (status, set_id, error) for name, status, set_id, error in rows}


def statuses_are(ws, names, status: str):
    def check():
        found = audit(ws)
        return found if all(found.get(name, ("",))[0] == status for name in names) else None
    return check


def load_ids(ws, table: str = "ref.companies") -> dict[int, int]:
    return dict(ws.query(f"SELECT _load_id, COUNT(*) FROM {table} GROUP BY _load_id"))


class Sampler(threading.Thread):
    """Reads `ref.companies` over and over while the daemon works: what a reader sees."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.seen: list[tuple[int, ...]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        backend = open_backend(self.url, pool_size=1)  # as the daemon connects (SQLite: `ref` attached)
        with backend.reading() as conn:
            while not self.stop.wait(0.05):
                try:
                    state = tuple(conn.execute(text(COUNTS.format(table="ref.companies"))).one())
                    if not self.seen or self.seen[-1] != state:
                        self.seen.append(state)
                except Exception as exc:  # recorded, asserted on below
                    self.errors.append(str(exc))
                conn.commit()
        backend.dispose()


def sources(tmp_path: Path, rows: int = PARTS * 300 + 4):
    """The previous snapshot (one zip), the next in 7 parts (parts 2 and 5 plain CSV, the rest
    zipped), and an older one."""
    source = tmp_path / "source"
    source.mkdir()
    previous = write_companies_house(source / one_file_name("2026-10-01"), 500, seed=1)
    zipped = write_companies_house_parts(source / "zip", "2026-11-01", rows, seed=2)
    plain = write_companies_house_parts(source / "csv", "2026-11-01", rows, seed=2, zipped=False)
    parts = [plain[i] if i in (1, 4) else zipped[i] for i in range(PARTS)]
    older = write_companies_house(source / one_file_name("2026-09-01"), 300, seed=3)
    return previous, parts, older


def test_a_seven_part_set_out_of_order_then_a_duplicate_an_older_snapshot_a_replay_a_wrong_file(
        make_workspace, tmp_path):
    ws = make_workspace(COMPANIES, http_port=0)
    folder = ws.folder("companies")
    previous, parts, older = sources(tmp_path)
    unrelated = write_csv(tmp_path / "source" / "BasicCompanyData-2026-12-01.csv", ["Email", "Phone"],
                          [["a@x.io", "0044"]])
    order = list(range(PARTS))
    random.Random(7).shuffle(order)
    sampler = Sampler(ws.url)
    with ws.daemon():
        drop(previous, folder)
        wait_for(statuses_are(ws, [previous.name], "loaded"))
        before = load_ids(ws)
        sampler.start()
        for index in order[:-1]:
            drop(parts[index], folder)
            wait_for(statuses_are(ws, [parts[index].name], "waiting"))
            assert load_ids(ws) == before
            time.sleep(0.6)  # a pause: parts come minutes apart
        drop(parts[order[-1]], folder)
        wait_for(statuses_are(ws, [p.name for p in parts], "loaded"))
        time.sleep(0.3)
        sampler.stop.set()
        sampler.join()
        drop(zipped_again := parts[2], folder, name=parts[2].name)  # part 3 sent again
        wait_for(lambda: [s for n, s, *_ in ws.query("SELECT file_name, status FROM ingest_files ORDER BY load_id")
                          if n == zipped_again.name] == ["loaded", "duplicate"])  # an updated row may move
        drop(older, folder)
        wait_for(statuses_are(ws, [older.name], "superseded"))
        drop(unrelated, folder)
        wait_for(statuses_are(ws, [unrelated.name], "failed"))

    records = audit(ws)
    set_id = records[parts[0].name][1]
    part_rows = {load_id: rows for load_id, rows in load_ids(ws).items()}
    assert len(part_rows) == PARTS and sum(part_rows.values()) == PARTS * 300 + 4
    assert load_ids(ws, "bkp.companies") == before  # the previous snapshot, whole
    # A reader saw the previous snapshot, then the whole set: the table changed once.
    assert not sampler.errors, sampler.errors[:3]
    previous_id = next(iter(before))
    assert sampler.seen[0] == (500, 1, previous_id, previous_id)
    assert sampler.seen[1:] == [(PARTS * 300 + 4, PARTS, min(part_rows), max(part_rows))]
    assert ws.query("SELECT status, part_count, rows_loaded, snapshot_date FROM ingest_snapshot_sets "
                    "WHERE set_id = :s", s=set_id)[0][:3] == ("loaded", 7, PARTS * 300 + 4)
    assert records[older.name][0] == "superseded" and "older than 2026-11-01" in records[older.name][2]
    error = records[unrelated.name][2]
    assert "shares 0 of the 55 columns of ref.companies" in error and "The file's columns: email, phone" in error
    assert set(load_ids(ws)) == set(part_rows)  # the wrong file changed nothing
    archive = folder.parent / "archive" / "companies"
    archived = sorted(p.name for p in archive.rglob("*") if p.is_file())
    [(duplicate_id,)] = ws.query("SELECT load_id FROM ingest_files WHERE status = 'duplicate'")
    assert len(archived) == PARTS + 3  # the duplicate under a free name beside its original
    assert set(archived) - {previous.name, older.name, *(p.name for p in parts)} == {
        parts[2].name.replace(".zip", f"__{duplicate_id}.zip")}

    shown = ws.cli("show", parts[0].name).stdout
    assert f"set           {set_id}: BasicCompanyData-2026-11-01, part 1 of 7; the set is loaded" in shown
    assert "parts of its set (7)" in shown
    sets = json.loads(ws.cli("status", "--sets", "--json").stdout)
    assert [(s["set_id"], s["status"], s["parts"]) for s in sets] == [(set_id, "loaded", "7 of 7")]
    listing = ws.cli("status").stdout
    assert "superseded" in listing and "waiting for parts" not in listing

    replayed = ws.cli("replay", str(ws.query("SELECT load_id FROM ingest_files WHERE file_name = :n",
                                             n=older.name)[0][0]))
    assert "loaded" in replayed.stdout
    [(replay_id, rows)] = load_ids(ws).items()
    assert rows == 300 and ws.query("SELECT replay_of FROM ingest_files WHERE load_id = :i", i=replay_id)[0][0]
    assert load_ids(ws, "bkp.companies") == part_rows  # the set it replaced, whole


def test_a_failing_part_fails_its_set_and_changes_nothing(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES, http_port=0)
    folder = ws.folder("companies")
    previous, parts, _ = sources(tmp_path)
    broken = tmp_path / "broken" / parts[3].name
    broken.parent.mkdir()
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)  # part 4: not a CSV at all
    with ws.daemon():
        drop(previous, folder)
        wait_for(statuses_are(ws, [previous.name], "loaded"))
        before = load_ids(ws)
        for part in [*parts[:3], broken, *parts[4:]]:
            drop(part, folder)
        records = wait_for(statuses_are(ws, [p.name for p in parts], "failed"))
    assert load_ids(ws) == before and ws.tables("bkp") == set()
    set_id = records[parts[0].name][1]
    [(status, error)] = ws.query("SELECT status, error FROM ingest_sets WHERE set_id = :s", s=set_id)
    assert status == "failed" and broken.name in error and "PNG" in error
    assert "PNG" in records[broken.name][2]
    for part in parts:
        if part.name != broken.name:
            assert f"set {set_id} (BasicCompanyData-2026-11-01) failed" in records[part.name][2]
    failed = folder.parent / "failed" / "companies"
    assert sorted(p.name for p in failed.iterdir() if not p.name.endswith(".error.txt")) == sorted(
        p.name for p in parts)
    assert "PNG" in (failed / f"{broken.name}.error.txt").read_text()
    assert not [t for t in ws.tables("ref") if "__stg_" in t]


def test_kill_9_while_a_set_loads_then_it_loads_once_whole(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES, http_port=0, batch_rows=2000)
    folder = ws.folder("companies")
    source = tmp_path / "source"
    source.mkdir()
    previous = write_companies_house(source / one_file_name("2026-10-01"), 200, seed=1)
    total = PARTS * 40_000
    parts = write_companies_house_parts(source, "2026-11-01", total, seed=4, zipped=False)
    daemon = ws.daemon()
    drop(previous, folder)
    wait_for(statuses_are(ws, [previous.name], "loaded"))
    before = load_ids(ws)
    for part in parts:
        drop(part, folder)
    wait_for(lambda: ("loading",) in ws.query("SELECT status FROM ingest_files"), timeout=120, interval=0.02)
    daemon.kill()
    assert {s for n, s, *_ in ws.query("SELECT file_name, status FROM ingest_files") if n != previous.name} <= {
        "loading", "waiting", "claimed"}
    assert load_ids(ws) == before  # the kill left the previous snapshot in place
    with ws.daemon():
        records = wait_for(statuses_are(ws, [p.name for p in parts], "loaded"), timeout=240)
    per_part = load_ids(ws)
    assert len(per_part) == PARTS and sum(per_part.values()) == total
    assert ws.query("SELECT COUNT(DISTINCT company_number) FROM ref.companies") == [(total,)]
    assert load_ids(ws, "bkp.companies") == before
    set_id = records[parts[0].name][1]
    assert ws.query("SELECT status, rows_loaded FROM ingest_sets") == [("loaded", total)]
    assert {r[0] for r in ws.query("SELECT set_id FROM ingest_files WHERE file_name <> :n", n=previous.name)} == {
        set_id}
    assert not [t for t in ws.tables("ref") if "__stg_" in t]
    assert ws.query("SELECT COUNT(*) FROM ingest_events WHERE status = 'loaded'") == [(PARTS + 1,)]  # once each
    assert len([p for p in (folder.parent / "archive").rglob("*.csv")]) == PARTS


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def test_an_incomplete_set_is_reported_and_never_loaded(make_workspace, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # long enough for the five parts to be in before it is reported (a part joins in ~0.5 s on Babelfish)
    ws = make_workspace({**COMPANIES, "set_timeout": 6}, http_port=port, lease_seconds=3)
    folder = ws.folder("companies")
    previous, parts, _ = sources(tmp_path)
    with ws.daemon() as daemon:
        drop(previous, folder)
        wait_for(statuses_are(ws, [previous.name], "loaded"))
        before = load_ids(ws)
        here = [parts[i] for i in (0, 1, 3, 4, 6)]
        for part in here:
            drop(part, folder)
        wait_for(statuses_are(ws, [p.name for p in here], "waiting"))
        line = wait_for(lambda: next((ln for ln in daemon.output().splitlines() if "is incomplete after" in ln),
                                     None), timeout=60)
        metrics = _get(f"http://127.0.0.1:{port}/metrics")
        page = json.loads(_get(f"http://127.0.0.1:{port}/api/status"))
    assert "set 1 (BasicCompanyData-2026-11-01) into ref.companies" in line
    assert "5 of 7 parts here, missing part(s) 3, 6" in line
    assert 'ingest_sets_incomplete_overdue{target="ref.companies"} 1.0' in metrics
    assert 'ingest_sets{status="waiting",target="ref.companies"} 1.0' in metrics
    assert 'ingest_files_in_progress{status="waiting",target="ref.companies"} 5.0' in metrics
    [shown] = page["sets"]
    assert (shown["status"], shown["parts"], shown["missing"]) == ("waiting", "5 of 7", "3, 6")
    assert shown["incomplete"].startswith("overdue")
    status = ws.cli("status").stdout
    assert "snapshot sets waiting for parts (1):" in status and "overdue" in status
    assert load_ids(ws) == before
    assert ws.query("SELECT status FROM ingest_sets") == [("waiting",)]
    assert ws.query("SELECT COUNT(*) FROM ingest_sets WHERE overdue_at IS NOT NULL") == [(1,)]
