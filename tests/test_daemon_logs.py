"""Logs: one line per event, JSON when asked, and never a password (real daemon runs)."""

from __future__ import annotations

import json
import logging
import shlex
import sys

import psycopg
import pytest
from conftest import CONTACTS, PG_ADMIN_URL, DaemonProcess, cli_env, drop, wait_for, write_csv

from monitor.operate.logs import JsonFormatter, PlainFormatter, redact

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize("text", [
    f"postgresql+psycopg://loader:{SECRET}@db:5432/warehouse",
    f"mssql+pyodbc://sa:{SECRET}@server/db?driver=ODBC+Driver+18",
    f"DRIVER={{ODBC Driver 18}};SERVER=db;UID=sa;PWD={SECRET};Encrypt=yes",
    f"host=db user=loader password={SECRET} dbname=warehouse",
    f"Password = {SECRET}; Trusted_Connection=no",
    f"PWD={{{SECRET};x}};UID=sa",
])
def test_redact_hides_passwords_in_urls_and_connection_strings(text):
    hidden = redact(text)
    assert SECRET not in hidden and "***" in hidden


def test_redact_leaves_ordinary_text_alone():
    text = "loaded contacts.csv into public.contacts: 12 rows (load 7) from /data/in/x.csv http://host:8765/"
    assert redact(text) == text


def _record(message: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError(f"cannot connect to postgresql://u:{SECRET}@h/d\nDETAIL: second line")
        except ValueError:
            info = sys.exc_info()
    record = logging.LogRecord("monitor.test", logging.ERROR, __file__, 1, message, args, info)
    record.__dict__.update(extra)
    return record


def test_plain_lines_are_one_line_even_with_an_exception():
    line = PlainFormatter().format(_record("failed %s\nsecond line", f"x.csv pwd={SECRET}", exc=True))
    assert "\n" not in line and SECRET not in line
    assert "ERROR monitor.test: failed x.csv pwd=***" in line and "[ValueError: cannot connect" in line


def test_json_lines_carry_extra_fields_and_the_traceback_redacted():
    line = JsonFormatter().format(_record("failed %s", "x.csv", exc=True, load_id=7, file="x.csv"))
    entry = json.loads(line)
    assert "\n" not in line and SECRET not in line
    assert entry["message"] == "failed x.csv" and entry["level"] == "error" and entry["logger"] == "monitor.test"
    assert entry["load_id"] == 7 and entry["file"] == "x.csv"
    assert "ValueError" in entry["exception"] and "***" in entry["exception"]


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_a_daemon_run_logs_one_line_per_event_and_no_password(make_workspace, backend_url, log_format):
    url = backend_url.replace("postgresql+psycopg://postgres@", f"postgresql+psycopg://postgres:{SECRET}@")
    ws = make_workspace(CONTACTS, log_format=log_format, database_url=url)  # trust auth: any password works
    env = cli_env(INGEST_DATABASE_URL=url)
    with DaemonProcess(ws, [], env=env) as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        write_csv(ws.folder("contacts") / "one.csv", ["a"], [["1"]])
        write_csv(ws.folder("contacts") / "bad.csv", ["a"], [])
        wait_for(lambda: "one.csv" in daemon.output() and "bad.csv" in daemon.output(), timeout=60)
    assert daemon.proc.returncode == 0
    output = daemon.output()
    assert SECRET not in output
    lines = [line for line in output.splitlines() if line.strip()]
    if log_format == "json":
        entries = [json.loads(line) for line in lines]  # every line is one JSON event
        assert {"time", "level", "logger", "message"} <= set(entries[0])
        messages = [entry["message"] for entry in entries]
    else:
        assert all(line[:4].isdigit() and " monitor." in line for line in lines), lines
        messages = lines
    starting = next(m for m in messages if "ingest-monitor starting" in m)
    assert "postgres:***@" in starting
    assert any("loaded one.csv" in m for m in messages)


def _file_events(output: str, log_format: str, name: str) -> list[dict]:
    """The lines of one file's life, as their fields (JSON keys, or the plain line's key=value)."""
    found = []
    for line in output.splitlines():
        if log_format == "json":
            entry = json.loads(line)
        else:
            head, _, tail = line.partition("  ")
            entry = {"message": head, "level": head.split()[2].lower()}
            entry.update(dict(part.split("=", 1) for part in shlex.split(tail)))
        if entry.get("file") == name and "event" in entry:
            found.append(entry)
    return found


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_each_file_says_detected_started_progress_and_ended_with_its_fields(make_workspace, backend_url,
                                                                             log_format, tmp_path):
    ws = make_workspace(CONTACTS, log_format=log_format, progress_seconds=0.5)
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    with DaemonProcess(ws, [], env=cli_env()) as daemon, \
            psycopg.connect(**{**info, "dbname": backend_url.rsplit("/", 1)[1]}) as holder:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=60)
        holder.execute("CREATE TABLE contacts (id text, _load_id bigint)")
        holder.commit()
        holder.execute("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")  # a load that takes its time
        drop(write_csv(tmp_path / "slow.csv", ["id"], [[str(i)] for i in range(10)] + [["1", "2"]]),
             ws.folder("contacts"))
        wait_for(lambda: len([e for e in _file_events(daemon.output(), log_format, "slow.csv")
                              if e["event"] == "progress"]) >= 2, timeout=120)
        holder.rollback()
        wait_for(lambda: any(e["event"] == "ended" for e in _file_events(daemon.output(), log_format, "slow.csv")),
                 timeout=120)
    events = _file_events(daemon.output(), log_format, "slow.csv")
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["detected", "started"] and kinds[-1] == "ended" and set(kinds[2:-1]) == {"progress"}
    detected, started, progress, ended = events[0], events[1], events[2], events[-1]
    assert detected["target"] == started["target"] == ended["target"] == "public.contacts"
    load_id = str(ended["load_id"])
    assert str(started["load_id"]) == str(progress["load_id"]) == load_id
    assert progress["state"] == "loading" and float(progress["duration"]) >= 0.5 and "rows" in progress
    assert ended["state"] == "loaded" and str(ended["rows"]) == "10" and str(ended["rejected"]) == "1"
    assert float(ended["duration"]) > 0
    assert ended["level"] == "warning", "a file with rejected rows is not a plain success"
    side = next((ws.root / "incoming" / "archive").rglob("slow.csv.rejects.csv"))
    assert ended["rejects_file"] == str(side) and f"rejects in {side}" in ended["message"]
    assert not any("read by SQLite's CSV reader" in line or "monitor.route" in line
                   for line in daemon.output().splitlines()), "the route's line is DEBUG"


def test_a_plain_line_appends_its_fields():
    record = _record("loaded %s", "x.csv", load_id=7, file="x y.csv", state="loaded", rows=12)
    line = PlainFormatter().format(record)
    assert line.endswith('loaded x.csv  load_id=7 file="x y.csv" state=loaded rows=12'), line
