"""The companies stream end to end: the real daemon (`ingest-monitor run`) reading a local
stream server, on SQLite, PostgreSQL and (with MSSQL_URL) SQL Server: events applied by key
with history, a kill -9 at random moments, a snapshot swapped in under the stream, and a
server that misbehaves (cut mid-line, 429 with Retry-After, malformed lines, heartbeats only,
401, 416)."""

from __future__ import annotations

import json
import random
import socket
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import COMPANIES, DaemonProcess, Workspace, cli_env, drop, wait_for, write_csv
from test_web_status import chromium, dump_dom

from bench.stream_server import KEY, StreamServer, history, model
from monitor.stream.mapping import SNAPSHOT_COLUMNS

TABLE_SQL = ("SELECT company_number, company_name, company_status, reg_address_post_code, accounts_next_due_date "
             "FROM ref.companies")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stream_workspace(make_workspace: Callable[..., Workspace], server: StreamServer, port: int = 0,
                     **options: Any) -> Workspace:
    stream = {"name": "companies", "url": server.url, "batch_events": 200, "batch_seconds": 0.2,
              "backoff_initial": 0.2, "backoff_max": 2.0, "idle_timeout": 5.0, "breaker_seconds": 3.0, **options}
    return make_workspace(COMPANIES, streams=[stream], http_port=port, rescan_seconds=1.0)


def start(ws: Workspace) -> DaemonProcess:
    return DaemonProcess(ws, [], env=cli_env(CH_STREAM_API_KEY=KEY))


def table(ws: Workspace) -> dict[str, dict[str, str]]:
    return {r[0]: {"name": r[1], "status": r[2], "post_code": r[3] or "", "next_due": r[4] or ""}
            for r in ws.query(TABLE_SQL)}


def position(ws: Workspace) -> tuple[int | None, int | None]:
    try:
        rows = ws.query("SELECT timepoint, joined_load_id FROM ref.ingest_stream_positions WHERE stream = 'companies'")
    except Exception:  # not created yet
        return None, None
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def reached(ws: Workspace, timepoint: int) -> Callable[[], bool]:
    return lambda: position(ws)[0] == timepoint


def stream_audit(ws: Workspace) -> list[dict[str, Any]]:
    return [row for row in ws.status() if row["mode"] == "stream"]


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=120) as response:
        return dict(json.load(response))


def health_of(port: int) -> dict[str, Any]:
    try:
        return health(port)
    except urllib.error.HTTPError as exc:  # 503 still carries the body
        return dict(json.load(exc))


def test_events_are_applied_by_key_with_history(make_workspace: Callable[..., Workspace]) -> None:
    items = history(40, 400, seed=11)
    port = free_port()
    with StreamServer(items) as server:
        ws = stream_workspace(make_workspace, server, port)
        with start(ws):
            wait_for(reached(ws, items[-1]["event"]["timepoint"]), timeout=120)
            assert table(ws) == model(items)
            streams = health_of(port)["streams"]
            assert streams[0]["state"] == "streaming"
            assert streams[0]["last_timepoint"] == items[-1]["event"]["timepoint"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as response:
                metrics = response.read().decode()
            assert 'ingest_stream_last_timepoint{stream="companies"} ' + str(items[-1]["event"]["timepoint"]) in metrics
            assert 'ingest_stream_connected{stream="companies"} 1.0' in metrics
            page = dump_dom(chromium(), f"http://127.0.0.1:{port}/")
            row = page.split('data-stream="companies"')[1].split("</tr>")[0]
            assert "streaming" in row and f"<td>{items[-1]['event']['timepoint']}</td>" in row
    history_rows = ws.query("SELECT COUNT(*) FROM ref.companies__history") if ws.url.startswith("sqlite") else \
        ws.query("SELECT COUNT(*) FROM bkp.companies__history")
    assert history_rows[0][0] > 0
    batches = stream_audit(ws)
    assert batches and {b["status"] for b in batches} == {"loaded"}
    assert sum(b["rows_read"] for b in batches) == len(items)
    lineage = {r[0] for r in ws.query("SELECT DISTINCT _load_id FROM ref.companies")}
    assert lineage <= {b["load_id"] for b in batches}
    shown = ws.cli("show", str(batches[-1]["load_id"])).stdout
    assert "companies@" in shown and "stream" in shown


@pytest.mark.slow
def test_kill_9_at_random_moments_applies_every_event_once(make_workspace: Callable[..., Workspace]) -> None:
    items = history(1000, 10_000, seed=2026)
    rng = random.Random(9)
    with StreamServer(items) as server:
        server.per_minute = 60_000.0  # a thousand a second: kills land while it streams
        ws = stream_workspace(make_workspace, server)
        kills = 0
        while kills < 8 and (kills == 0 or position(ws)[0] != items[-1]["event"]["timepoint"]):
            daemon = start(ws)
            time.sleep(rng.uniform(2.0, 5.0))
            daemon.kill()
            kills += 1
        with start(ws) as daemon:  # running: what the kills left `applying` is settled by then
            wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=120)
            wait_for(reached(ws, items[-1]["event"]["timepoint"]), timeout=300)
    assert kills >= 3
    assert table(ws) == model(items)
    counted = ws.query("SELECT COUNT(*), COUNT(DISTINCT timepoint) FROM ref.ingest_stream_events")
    assert counted == [(len(items), len(items))]
    batches = stream_audit(ws)
    assert sum(b["rows_read"] for b in batches if b["status"] == "loaded") == len(items)
    assert "applying" not in {b["status"] for b in batches}


def snapshot_file(folder: Path, name: str, rows: dict[str, dict[str, str]]) -> Path:
    header = [f" {c}" if c in ("CompanyNumber", "RegAddress.AddressLine2") else c for c in SNAPSHOT_COLUMNS]
    values = []
    for number, row in sorted(rows.items()):
        record = dict.fromkeys(SNAPSHOT_COLUMNS, "")
        record.update({"CompanyName": row["name"], "CompanyNumber": number, "CompanyStatus": row["status"],
                       "RegAddress.PostCode": row["post_code"], "Accounts.NextDueDate": row["next_due"],
                       "CountryOfOrigin": "United Kingdom"})
        values.append([record[c] for c in SNAPSHOT_COLUMNS])
    return write_csv(folder / name, header, values)


def test_a_snapshot_older_than_the_stream_gets_the_later_events_again(
        make_workspace: Callable[..., Workspace], tmp_path: Path) -> None:
    start_at = datetime(2026, 11, 30, 12, 0, 0)  # events over 2026-11-30 and 2026-12-01
    items = history(30, 300, seed=5, start=start_at.replace(hour=23, minute=58))
    before = [i for i in items if i["event"]["published_at"] < "2026-12-01"]
    assert before and len(before) < len(items)
    with StreamServer(items) as server:
        ws = stream_workspace(make_workspace, server)
        with start(ws):
            wait_for(reached(ws, items[-1]["event"]["timepoint"]), timeout=120)
            snapshot = model(before)
            snapshot["99999999"] = {"name": "ONLY IN THE SNAPSHOT LIMITED", "status": "Active", "post_code": "",
                                    "next_due": ""}
            source = snapshot_file(tmp_path / "src", "BasicCompanyDataAsOneFile-2026-12-01.csv", snapshot)
            drop(source, ws.folder("companies"))
            loaded = wait_for(lambda: [r for r in ws.status() if r["mode"] == "fullload" and r["status"] == "loaded"],
                              timeout=120)
            wait_for(lambda: position(ws)[1] == loaded[0]["load_id"], timeout=120)
            expected = model([i for i in items if i not in before], start=snapshot)
            assert table(ws) == expected
            later = history(30, 50, seed=6, first=items[-1]["event"]["timepoint"] + 1,
                            start=datetime(2026, 12, 2, 9, 0, 0), deletes=False)
            server.append(later)
            wait_for(reached(ws, later[-1]["event"]["timepoint"]), timeout=120)
            assert table(ws) == model(later, start=expected)
            # next month's snapshot: swapped in over a table the stream has merged into
            snapshot["88888888"] = {"name": "NEW IN DECEMBER LIMITED", "status": "Active", "post_code": "",
                                    "next_due": ""}
            second = snapshot_file(tmp_path / "src2", "BasicCompanyDataAsOneFile-2026-12-02.csv", snapshot)
            drop(second, ws.folder("companies"))
            wait_for(lambda: len([r for r in ws.status() if r["mode"] == "fullload" and r["status"] == "loaded"])
                     == 2, timeout=120)
            newest = max(r["load_id"] for r in ws.status() if r["mode"] == "fullload")
            wait_for(lambda: position(ws)[1] == newest, timeout=120)
            assert table(ws) == model(later, start=snapshot)
    kept = ws.query("SELECT COUNT(*) FROM ref.ingest_stream_events WHERE published_at < '2026-12-02'")
    assert kept == [(0,)]  # older than the newest snapshot: never needed again
    countries = dict(ws.query("SELECT company_number, country_of_origin FROM ref.companies"))
    assert countries["99999999"] == "United Kingdom"


def test_a_recorded_stream_replays_through_the_same_path(make_workspace: Callable[..., Workspace],
                                                         tmp_path: Path) -> None:
    items = history(25, 250, seed=21)
    recorded = tmp_path / "companies.jsonl"
    lines = [json.dumps(item) for item in items]
    lines.insert(100, "")  # a heartbeat
    lines.insert(50, "{not json")
    recorded.write_text("\n".join(lines))  # the last line without its newline
    with StreamServer() as server:  # configured, never connected to
        ws = stream_workspace(make_workspace, server)
    first = ws.cli("stream-replay", str(recorded)).stdout
    assert f"{len(items)} event(s) read, {len(items)} applied, 0 rejected, 0 already applied" in first
    assert "1 malformed line(s) skipped" in first
    assert table(ws) == model(items)
    again = ws.cli("stream-replay", str(recorded)).stdout
    assert f"0 applied, 0 rejected, {len(items)} already applied" in again
    checked = ws.cli("check-config", check=False)
    assert "streams[0] (companies): CH_STREAM_API_KEY is not set" in checked.stdout + checked.stderr
    listed = ws.cli("status", "--target", "ref.companies").stdout
    assert f"companies@{items[0]['event']['timepoint']}-" in listed
    assert position(ws)[0] == items[-1]["event"]["timepoint"]


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_lost_database_connections_resume_from_the_stored_position(make_workspace: Callable[..., Workspace],
                                                                    backend_url: str) -> None:
    items = history(200, 3000, seed=31)
    name = backend_url.rsplit("/", 1)[1]
    with StreamServer(items) as server:
        server.per_minute = 30_000.0
        ws = stream_workspace(make_workspace, server)
        with start(ws) as daemon:
            wait_for(lambda: (position(ws)[0] or 0) > items[0]["event"]["timepoint"], timeout=120)
            ended = 0
            for _ in range(5):  # the database drops every connection of the daemon, five times
                ended += len(ws.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                    "AND pid <> pg_backend_pid()", name=name))
                time.sleep(1.0)
            wait_for(reached(ws, items[-1]["event"]["timepoint"]), timeout=180)
    assert ended >= 5
    assert "database:" in daemon.output()  # a batch failed with the connection, and was read again
    assert table(ws) == model(items)
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT timepoint) FROM ref.ingest_stream_events") == \
        [(len(items), len(items))]
