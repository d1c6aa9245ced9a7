"""The real daemon against a stream server that misbehaves: refused with 429 and Retry-After,
cut in the middle of a line, malformed lines, heartbeats only (and then silence), a refused
key (401), a position older than the service keeps (416) until a newer snapshot comes.
The database does not matter here: SQLite."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from conftest import Workspace, drop, wait_for
from test_stream_daemon import (
    free_port,
    health_of,
    position,
    reached,
    snapshot_file,
    start,
    stream_audit,
    stream_workspace,
    table,
)

from bench.stream_server import StreamServer, history, model

pytestmark = pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)


def stream_state(port: int) -> dict:
    return dict(health_of(port)["streams"][0])


def test_429_with_retry_after_a_cut_mid_line_and_malformed_lines(make_workspace: Callable[..., Workspace]) -> None:
    items = history(20, 300, seed=4)
    port = free_port()
    with StreamServer(items) as server:
        server.refusals = [(429, {"Retry-After": "2"})]
        server.cut_after = 100
        server.malformed_every = 40
        ws = stream_workspace(make_workspace, server, port)
        with start(ws) as daemon:
            wait_for(reached(ws, items[-1]["event"]["timepoint"]), timeout=120)
            state = stream_state(port)
    requests = server.requests
    assert [r["status"] for r in requests[:3]] == [429, 200, 200]
    assert requests[1]["at"] - requests[0]["at"] >= 2.0  # Retry-After honoured
    resumed = int(requests[2]["query"]["timepoint"])  # from the stored position, not from what was read
    assert items[0]["event"]["timepoint"] <= resumed <= items[100]["event"]["timepoint"]
    assert table(ws) == model(items)
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT timepoint) FROM ref.ingest_stream_events") == \
        [(len(items), len(items))]
    assert state["malformed_lines"] >= 2 and state["reconnects"] >= 2
    log = daemon.output()
    assert "HTTP 429" in log and "malformed line skipped" in log


def test_heartbeats_keep_the_connection_and_silence_ends_it(make_workspace: Callable[..., Workspace]) -> None:
    port = free_port()
    items = history(5, 20, seed=8)
    with StreamServer(items) as server:
        server.heartbeats_only = True
        ws = stream_workspace(make_workspace, server, port, idle_timeout=1.5)
        with start(ws) as daemon:
            wait_for(lambda: stream_state(port)["heartbeats"] >= 10, timeout=60)
            assert len(server.requests) == 1 and stream_state(port)["state"] == "streaming"
            server.heartbeat_seconds = 4.0  # silence longer than the idle timeout
            wait_for(lambda: len(server.requests) >= 2, timeout=60)
            server.heartbeats_only, server.heartbeat_seconds = False, 0.2
            wait_for(reached(ws, items[-1]["event"]["timepoint"]), timeout=60)
    assert "no byte for 1.5s" in daemon.output()
    assert table(ws) == model(items)


def test_a_refused_key_is_reported_and_nothing_is_applied(make_workspace: Callable[..., Workspace]) -> None:
    port = free_port()
    with StreamServer(history(5, 20), key="another-key") as server:
        ws = stream_workspace(make_workspace, server, port)
        with start(ws) as daemon:
            wait_for(lambda: stream_state(port)["state"] == "unauthorized", timeout=60)
            assert stream_state(port)["last_error"].startswith("HTTP 401")
    assert {r["status"] for r in server.requests} == {401}
    assert "HTTP 401: the API key (CH_STREAM_API_KEY) was refused" in daemon.output()
    assert position(ws) == (None, None) and stream_audit(ws) == []


def test_a_position_too_old_waits_for_a_newer_snapshot(make_workspace: Callable[..., Workspace],
                                                       tmp_path: Path) -> None:
    port = free_port()
    items = history(10, 60, seed=12, start=datetime(2026, 12, 3, 8, 0, 0))
    last = items[-1]["event"]["timepoint"]
    with StreamServer(items) as server:
        ws = stream_workspace(make_workspace, server, port)
        with start(ws) as daemon:
            wait_for(reached(ws, last), timeout=60)
            server.oldest = last + 1000  # the service no longer keeps our position
            server.drop_connections()
            wait_for(lambda: stream_state(port)["state"] == "timepoint_too_old", timeout=60)
            assert any(r["status"] == 416 for r in server.requests)
            server.now_index = len(server.lines)  # from now on: what is published next
            snapshot = model(items)
            drop(snapshot_file(tmp_path / "src", "BasicCompanyDataAsOneFile-2026-12-05.csv", snapshot),
                 ws.folder("companies"))
            later = history(10, 30, seed=13, first=last + 2000, start=datetime(2026, 12, 6, 8, 0, 0), deletes=False)
            server.append(later)
            wait_for(reached(ws, later[-1]["event"]["timepoint"]), timeout=120)
    assert "HTTP 416" in daemon.output()
    fresh = [r for r in server.requests if r["status"] == 200 and "timepoint" not in r["query"]]
    assert fresh, "after the newer snapshot the stream is read from now on"
    assert table(ws) == {**snapshot, **model(later)}
