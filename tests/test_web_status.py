"""The daemon's HTTP port: /metrics (Prometheus text), /health, /api/status and the status page
(in headless Chromium), against the real daemon process."""

from __future__ import annotations

import json
import platform
import re
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from datetime import UTC, datetime

import psycopg
import pytest
from conftest import CONTACTS, PG_ADMIN_URL, drop, wait_for, write_csv
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import Settings
from monitor.operate.app import build_app
from monitor.operate.daemon import Daemon
from monitor.operate.web import StatusServer, start_status_server

AUDIT_SERIES = {"ingest_files_total", "ingest_rows_loaded_total", "ingest_rows_rejected_total",
                "ingest_bytes_loaded_total", "ingest_files_with_rejects_total",
                "ingest_target_last_success_timestamp_seconds", "ingest_load_duration_seconds_bucket",
                "ingest_load_duration_seconds_count", "ingest_load_duration_seconds_sum", "ingest_files_in_progress"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def metrics(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    status, content_type, body = get(base + "metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def api(base: str) -> dict:
    return json.loads(get(base + "api/status")[2])


def started(ws, port: int):
    daemon = ws.daemon()
    base = f"http://127.0.0.1:{port}/"
    wait_for(lambda: get(base + "health")[0] == 200, timeout=120)
    return daemon, base


def test_metrics_health_and_status_api(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        assert json.loads(get(base + "health")[2]) == {
            "status": "ok", "watching": True, "database": True, "schema": True, "loads_paused": False,
            "writable": True, "causes": [], "folders": {str(ws.folder("contacts")): True}}
        drop(write_csv(tmp_path / "people.csv", ["name", "age"], [["ann", "3"], ["bob", "4", "x"], ["cy", "5"]]),
             ws.folder("contacts"))
        empty = ws.folder("contacts") / "empty.csv"
        empty.write_bytes(b"")
        def settled() -> dict | None:
            s = api(base)
            done = [x for x in s["loads"] if x["finished_at"]]
            idle = s["queue"] == {"queued": 0, "settling": 0, "waiting": 0, "files": []} and s["in_flight"] == []
            return s if len(done) == 2 and idle else None

        status = wait_for(settled, timeout=120)
        samples = metrics(base)
        assert get(base + "nowhere")[0] == 404
        assert get(base + "static/../web.py")[0] == 404
    target = status["loads"][0]["target"]
    by_file = {load["file_name"]: load for load in status["loads"]}
    assert (by_file["people.csv"]["status"], by_file["people.csv"]["rows_loaded"]) == ("loaded", 2)
    assert [(f["file_name"], "empty" in f["error"]) for f in status["failures"]] == [("empty.csv", True)]
    assert status["targets"] == [{**status["targets"][0], "target": target, "rows_now": 2, "files_loaded": 1,
                                  "rows_loaded": 2, "rows_rejected": 1}]
    assert status["watching"] and status["database_up"]

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("ingest_database_up") == 1 and value("ingest_watching") == 1
    assert value("ingest_queue_depth") == 0 and value("ingest_loads_in_flight") == 0
    assert value("ingest_files_settling") == 0
    assert value("ingest_files_total", target=target, status="loaded") == 1
    assert value("ingest_files_total", target=target, status="failed") == 1
    assert value("ingest_files_total", target=target, status="duplicate") == 0
    assert value("ingest_files_in_progress", target=target, status="loading") == 0
    assert value("ingest_files_with_rejects_total", target=target) == 1
    assert value("ingest_bytes_loaded_total", target=target) == (tmp_path / "people.csv").stat().st_size
    finished = by_file["people.csv"]["finished_at"]
    last = datetime.fromisoformat(finished).replace(tzinfo=UTC).timestamp()
    assert int(value("ingest_target_last_success_timestamp_seconds", target=target)) == int(last)
    assert value("ingest_ready") == 1 and value("ingest_database_schema_ready") == 1
    assert value("ingest_loads_paused") == 0 and value("ingest_files_waiting_for_database") == 0
    from monitor import __version__

    assert value("ingest_build_info", backend=ws.url.split(":")[0].split("+")[0], python=platform.python_version(),
                 version=__version__) == 1
    assert value("process_resident_memory_bytes") > 0 and value("process_start_time_seconds") > 0
    assert value("ingest_audit_read_timestamp_seconds") > 0
    assert value("ingest_rows_loaded_total", target=target) == 2
    assert value("ingest_rows_rejected_total", target=target) == 1
    assert value("ingest_load_duration_seconds_count", target=target) == 1
    assert value("ingest_load_duration_seconds_bucket", target=target, le="+Inf") == 1
    assert value("ingest_load_duration_seconds_bucket", target=target, le="3600.0") == 1
    assert value("ingest_load_duration_seconds_sum", target=target) >= 0


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_health_is_503_when_the_database_goes_away(make_workspace, backend_url):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(ws.root / "kept.csv", ["id"], [["1"]]), ws.folder("contacts"))
        wait_for(lambda: [load["status"] for load in api(base)["loads"]] == ["loaded"], timeout=120)
        load_id = api(base)["loads"][0]["load_id"]
        assert get(base + f"api/load/{load_id}")[0] == 200  # read once: the load page keeps it
        before = metrics(base)
        name = backend_url.rsplit("/", 1)[1]
        info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
        with psycopg.connect(**info, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        _, _, body = wait_for(lambda: (r := get(base + "health"))[0] == 503 and r, timeout=120)
        assert json.loads(body)["database"] is False and json.loads(body)["watching"] is True
        samples = metrics(base)
        assert samples[("ingest_database_up", ())] == 0 and samples[("ingest_watching", ())] == 1
        assert samples[("ingest_ready", ())] == 0
        # The audit-derived series keep their last known values: no gap for rate() or absent().
        assert samples == {**samples, **{key: value for key, value in before.items() if key[0] in AUDIT_SERIES}}
        assert samples[("ingest_files_total", (("status", "loaded"), ("target", "public.contacts")))] == 1
        status = api(base)
        assert "does not answer" in status["error"] and status["stale_since"] is not None
        assert [load["file_name"] for load in status["loads"]] == ["kept.csv"], "the last known loads stand"
        code, _, kept = get(base + f"api/load/{load_id}")
        unknown_code, _, unknown = get(base + "api/load/999")
        browser = chromium()
        kept_page, unknown_page = dump_dom(browser, base + f"load/{load_id}"), dump_dom(browser, base + "load/999")
    kept_load = json.loads(kept)
    assert code == 200 and kept_load["file_name"] == "kept.csv" and kept_load["stale_since"] is not None
    assert kept_load["unavailable"].startswith("the database does not answer")
    assert f"shown as read at {kept_load['stale_since']} UTC" in kept_load["unavailable"]
    assert "kept.csv" in kept_page and "shown as read at" in kept_page and "not loaded yet" not in kept_page
    assert unknown_code == 503
    assert "load 999 cannot be read until it does" in json.loads(unknown)["error"]
    assert "load 999 cannot be read until it does" in unknown_page and "load ?" not in unknown_page



@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_load_in_flight_shows_with_its_progress(make_workspace, backend_url, tmp_path):
    """A lock held on the target keeps the load in flight for as long as the test looks; the
    API and the page (headless Chromium) name the lock, who holds it and how long it waits."""
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    with daemon, psycopg.connect(**{**info, "dbname": backend_url.rsplit("/", 1)[1]}) as holder:
        holder.execute("CREATE TABLE contacts (id text, _load_id bigint)")
        holder.commit()
        holder_pid = holder.info.backend_pid
        holder.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        drop(write_csv(tmp_path / "held.csv", ["id"], [[str(i)] for i in range(10)]), ws.folder("contacts"))
        status = wait_for(lambda: (s := api(base))["in_flight"] and s["in_flight"][0]["blocked"] and s, timeout=120)
        samples = metrics(base)
        dom = dump_dom(chromium(), base)
        holder.rollback()
        wait_for(lambda: any(x["status"] == "loaded" for x in api(base)["loads"]), timeout=120)
    [load] = status["in_flight"]
    assert (load["file"], load["target"]) == ("held.csv", "public.contacts")
    assert 0 <= load["rows"] <= 10 and load["fraction"] is not None and load["elapsed_seconds"] >= 0
    held_by = f"for a lock on public.contacts held by session {holder_pid} (postgres, "
    assert held_by in load["blocked"] and "LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE" in load["blocked"]
    row = dom.split('data-file="held.csv"')[1].split("</tr>")[0]
    assert 'class="error-text blocked"' in row and "blocked: waiting " in row and held_by in row
    assert re.search(r"<td>\d\d:\d\d</td>$", row), row  # the time it has been in flight
    assert [(x["file_name"], x["status"]) for x in status["loads"]] == [("held.csv", "loading")]
    assert samples[("ingest_loads_in_flight", ())] == 1
    assert samples[("ingest_files_in_progress", (("status", "loading"), ("target", "public.contacts")))] == 1

def test_health_is_503_until_the_daemon_watches(tmp_path):
    settings = Settings.model_validate({"database_url": f"sqlite:///{tmp_path / 'ingest.db'}",
                                        "folders": [{"path": str(tmp_path / "in"), "table": "t"}], "http_port": 0})
    app = build_app(settings)
    daemon = Daemon(app)
    assert start_status_server(daemon) is None
    server = StatusServer(daemon, "127.0.0.1", 0)
    server.start()
    try:
        code, _, body = get(server.url + "health")
        assert code == 503
        assert json.loads(body) == {"status": "unavailable", "watching": False, "database": True, "schema": True,
                                    "loads_paused": False, "writable": True,
                                    "causes": [f"watched folder {(tmp_path / 'in').resolve()} does not exist: "
                                               "files there cannot load", "the folder observers are not running"],
                                    "folders": {str((tmp_path / "in").resolve()): False}}
    finally:
        server.stop()
        app.close()


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: the status page test needs Debian's `chromium` package "
                "(apt-get install -y chromium); .ci/run installs it")


def dump_dom(browser: str, url: str) -> str:
    """The page's DOM after its scripts ran, from a fresh headless Chromium."""
    with tempfile.TemporaryDirectory(prefix="im-chromium-") as profile:
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--virtual-time-budget=5000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_status_page_shows_a_dropped_file_as_loaded(make_workspace, tmp_path):
    browser = chromium()
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        before = dump_dom(browser, base)
        assert 'id="loads"' in before and "no loads yet" in before and "watching: yes" in before
        drop(write_csv(tmp_path / "drop-me.csv", ["id"], [[str(i)] for i in range(7)]), ws.folder("contacts"))
        dom = wait_for(lambda: (d := dump_dom(browser, base)) and 'data-file="drop-me.csv" data-status="loaded"' in d
                       and d, timeout=120, interval=0.5)
    row = dom.split('data-file="drop-me.csv" data-status="loaded"')[1].split("</tr>")[0]
    cells = [cell.split(">", 1)[1].split("<")[0] for cell in row.split("<td")[1:]]
    assert cells[1:3] == ["drop-me.csv", "main.contacts"] and cells[4:7] == ["7", "7", "0"]
    targets = dom.split('id="targets"')[1].split("</table>")[0]
    assert 'data-target="main.contacts"' in targets and "<td>7</td>" in targets
    assert "database: yes" in dom



def _cells(dom: str, marker: str) -> list[str]:
    row = dom.split(marker)[1].split("</tr>")[0]
    return [re.sub(r"<[^>]+>", "", cell.split(">", 1)[1]).strip() for cell in row.split("<td")[1:]]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_the_load_page_filters_chart_and_partial_warning_in_chromium(make_workspace, tmp_path):
    browser = chromium()
    port = free_port()
    ws = make_workspace(CONTACTS, {**CONTACTS, "path": "incoming/people", "table": "people"}, http_port=port)
    daemon, base = started(ws, port)
    with daemon:
        drop(write_csv(tmp_path / "partial.csv", ["Full Name", "age"], [["ann", "3"], ["bob", "4", "x"], ["cy", "5"]]),
             ws.folder("contacts"))
        drop(write_csv(tmp_path / "clean.csv", ["id"], [["1"], ["2"]]), ws.folder("people"))
        (ws.folder("people") / "empty.csv").write_bytes(b"")
        wait_for(lambda: len([x for x in api(base)["loads"] or [] if x["finished_at"]]) == 3, timeout=120)
        loads = {load["file_name"]: load for load in api(base)["loads"]}
        partial_id = loads["partial.csv"]["load_id"]

        overview = dump_dom(browser, base)
        assert "1 recent load(s) loaded with rejected rows" in overview
        assert f'<a href="/load/{partial_id}">partial.csv (1 rejected)</a>' in overview
        row = overview.split('data-file="partial.csv" data-status="loaded"')[1].split("</tr>")[0]
        assert 'class="status loaded partial"' in row and "1 rejected" in row
        bars = re.findall(r'<rect [^>]*class="bar" data-hour="([^"]+)" data-rows="(\d+)" data-files="(\d+)" '
                          r'data-failed="(\d+)"', overview)
        assert len(bars) == 24, "one bar per hour of the last day"
        assert sum(int(rows) for _, rows, _, _ in bars) == 4 and int(bars[-1][1]) == 4
        assert sum(int(failed) for *_, failed in bars) == 1

        failed_only = dump_dom(browser, base + "?status=failed")
        assert re.findall(r'data-file="([^"]+)" data-status="(\w+)"', failed_only.split('id="loads"')[1]) == [
            ("empty.csv", "failed")]
        people = dump_dom(browser, base + "?target=main.people")
        assert sorted(re.findall(r'data-file="([^"]+)" data-status', people.split('id="loads"')[1])) == [
            "clean.csv", "empty.csv"]
        assert '<option value="main.people">main.people</option>' in people
        future = dump_dom(browser, base + "?since=2999-01-01")
        assert "no load matches these filters" in future
        assert get(base + "api/status?status=nonsense")[0] == 400

        page = dump_dom(browser, base + f"load/{partial_id}")
        assert f"load {partial_id}: partial.csv (loaded)" in page
        assert "loaded with 1 rejected row(s) of 3" in page
        assert _cells(page, 'data-field="rows_loaded"') == ["rows_loaded", "2"]
        columns = page.split('id="columns"')[1].split("</table>")[0]
        assert "<td>Full Name</td><td>full_name</td>" in columns
        events = page.split('id="events"')[1].split("</table>")[0]
        assert events.count("<tr>") >= 3 and "loaded" in events
        samples = page.split('id="reject-samples"')[1].split("</table>")[0]
        assert "bob,4,x" in samples and "expected 2 fields, found 3" in samples
        link = re.search(r'id="rejects-download" href="([^"]+)"', page)
        assert link and link.group(1) == f"/load/{partial_id}/rejects.csv"
        status, content_type, body = get(base + link.group(1).lstrip("/"))
        side = next((ws.root / "incoming" / "archive").rglob("partial.csv.rejects.csv"))
        assert status == 200 and content_type.startswith("text/csv") and body == side.read_bytes().decode()
        assert f"ingest-monitor replay {partial_id}" in page

        failed_id = loads["empty.csv"]["load_id"]
        failed_page = dump_dom(browser, base + f"load/{failed_id}")
        assert f"fix the cause, then: ingest-monitor retry {failed_id}" in failed_page
        note = failed_page.split('id="error-note"')[1].split("</p>")[0]
        assert "empty" in note and "hidden" not in note.split(">")[0]
        assert get(base + "load/999999/rejects.csv")[0] == 404
        assert "cannot show load 999999: no load 999999" in dump_dom(browser, base + "load/999999")
