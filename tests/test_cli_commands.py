"""The operator's command line: help everywhere, status filters, show, the load summary,
check-config naming every problem."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import CONTACTS, cli_env, write_csv

from monitor.operate.cli import main, parser

SQLITE_ONLY = pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
COMMANDS = ["run", "ingest", "status", "show", "retry", "replay", "init-db", "check-config", "ddl", "demo"]


def test_every_command_has_help(capsys):
    listed = set(parser()._subparsers._group_actions[0].choices)
    assert listed == set(COMMANDS)
    top = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True,
                         env=cli_env(), timeout=120)
    assert top.returncode == 0 and top.stdout.startswith("usage: ingest-monitor")
    assert all(command in top.stdout for command in COMMANDS)
    for command in COMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: ingest-monitor {command}")
        assert len(out.split("\n\n", 2)[1].strip()) > 20, f"{command}: no description"


@SQLITE_ONLY
def test_ingest_prints_a_summary_with_totals(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    first = write_csv(tmp_path / "first.csv", ["a", "b"], [["1", "2"], ["3", "4", "5"], ["6", "7"]])
    copy = tmp_path / "copy.csv"
    copy.write_bytes(first.read_bytes())
    result = ws.cli("ingest", str(first), str(copy))
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["file", "target", "status", "read", "loaded", "rejected", "duplicate", "seconds"]
    assert lines[2].split()[:7] == ["first.csv", "main.contacts", "loaded", "3", "2", "1", "no"]
    assert lines[3].split()[:7] == ["copy.csv", "main.contacts", "duplicate", "0", "0", "0", "yes"]
    assert set(lines[4]) <= {"-", " "}
    assert lines[5].split()[:9] == ["total:", "2", "file(s)", "2", "ok", "3", "2", "1", "1"]
    assert "\r" not in result.stderr and "MB/s" not in result.stderr
    assert result.returncode == 4, "every file loaded, but rows were rejected"
    [warning] = result.stderr.splitlines()
    side = next((ws.root / "incoming" / "archive").rglob("first.csv.rejects.csv"))
    assert warning == f"warning: first.csv: 1 of 3 row(s) rejected; rejects in {side}"
    assert side.read_text().splitlines()[0] == "line,column,reason,raw"
    clean = ws.cli("ingest", str(write_csv(tmp_path / "clean.csv", ["a", "b"], [["8", "9"]])))
    assert clean.returncode == 0 and clean.stderr == ""


@SQLITE_ONLY
def test_status_filters_by_target_status_and_time(make_workspace, tmp_path, capsys):
    ws = make_workspace(CONTACTS, {**CONTACTS, "path": "incoming/people", "table": "people"})
    ws.cli("ingest", "--rule", "contacts", str(write_csv(tmp_path / "c.csv", ["a"], [["1"]])))
    ws.cli("ingest", str(write_csv(ws.folder("people") / "p.csv", ["a"], [["2"]])))
    empty = ws.folder("people") / "empty.csv"
    empty.write_bytes(b"")
    ws.cli("ingest", str(empty), check=False)

    def status(*args: str) -> tuple[int, str, str]:
        """`status` in this process (the same code as the command, without a process start)."""
        try:
            code = main(["--config", str(ws.config), "status", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    def names(*args: str) -> list[str]:
        code, out, _ = status("--json", *args)
        assert code == 0
        return [r["file_name"] for r in json.loads(out)]

    assert names() == ["empty.csv", "p.csv", "c.csv"]
    assert names("--target", "people") == ["empty.csv", "p.csv"]
    assert names("--target", "main.contacts") == ["c.csv"]
    assert names("--status", "failed") == ["empty.csv"]
    assert names("--status", "loaded", "--target", "people") == ["p.csv"]
    assert names("--since", "1h") == names("--since", "today") == names()
    assert names("--since", "2999-01-01") == []
    assert names("--limit", "1") == ["empty.csv"]
    table = status("--status", "failed")[1].splitlines()
    assert table[0].split()[:4] == ["load_id", "file_name", "target", "status"], "fits 100 columns: mode left out"
    assert len(table) == 3 and "empty.csv" in table[2] and "empty" in table[2].split("failed", 1)[1]
    code, _, err = status("--since", "last tuesday")
    assert code == 2 and "--since" in err


@SQLITE_ONLY
def test_show_reads_well_and_as_json(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = write_csv(tmp_path / "people.csv", ["First Name", "# Employees"],
                     [["ann", "3"], ["bob", "4", "x"], ["cy", "5"], ["dee"]])
    ws.cli("ingest", str(path))
    load_id = ws.status()[0]["load_id"]
    text = ws.cli("show", str(load_id)).stdout
    assert text.startswith(f"load {load_id}: people.csv -> main.contacts (append): loaded")
    assert "rows          read 4, loaded 2, rejected 2" in text
    mapping = text.split("column mapping (2):")[1].split("\n\n")[0]
    assert [line.split() for line in mapping.strip().splitlines()[2:]] == [
        ["First", "Name", "first_name"], ["#", "Employees", "num_employees"]]
    assert "events (3):" in text and "rejects by reason (" in text
    assert "bob,4,x" in text.split("first rejected records (2):")[1]
    by_name = ws.cli("show", str(ws.folder("contacts").parent / "archive" / "x" / "people.csv")).stdout
    assert by_name == text
    record = json.loads(ws.cli("show", "--json", str(load_id)).stdout)[0]
    sha = record["sha256"]
    assert json.loads(ws.cli("show", "--json", sha[:12]).stdout)[0]["load_id"] == load_id
    assert sum(r["count"] for r in record["rejects"]) == 2
    assert [r["line_number"] for r in record["reject_samples"]] == [3, 5]
    missing = ws.cli("show", "no-such-file.csv", check=False)
    assert missing.returncode == 1 and "no load matches" in missing.stderr


@SQLITE_ONLY
def test_check_config_passes_a_good_config(make_workspace):
    ws = make_workspace(CONTACTS)
    result = ws.cli("check-config")
    assert result.stdout.startswith("config ok: 1 folder rule(s); database answers (sqlite")


def _config(root: Path, folders: list[dict], url: str) -> Path:
    path = root / "monitor.json"
    path.write_text(json.dumps({"database_url": url, "folders": folders}))
    return path


def test_check_config_names_every_problem(tmp_path):
    (tmp_path / "in" / "contacts").mkdir(parents=True)
    (tmp_path / "in" / "archive" / "contacts").mkdir(parents=True)
    (tmp_path / "a-file.csv").write_text("x\n")
    config = _config(tmp_path, [
        {"path": str(tmp_path / "missing"), "table": "lost"},
        {"path": str(tmp_path / "in" / "contacts"), "pattern": "*.csv", "table": "contacts"},
        {"path": str(tmp_path / "in" / "contacts"), "pattern": "crm-*.csv", "table": "crm"},
        {"path": str(tmp_path / "a-file.csv"), "table": "contacts", "mode": "fullload"},
        {"path": str(tmp_path / "in" / "archive" / "contacts"), "table": "loop"},
    ], "postgresql+psycopg://postgres@127.0.0.1:9/nowhere")
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "check-config"],
                            capture_output=True, text=True, env=cli_env(), timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    problems = [line[4:] for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert result.stdout.startswith(f"{len(problems)} problem(s)")
    expected = [
        ("folders[0].path", "missing", "does not exist"),
        ("folders[3].path", "a-file.csv", "not a folder"),
        ("folders[2]", "overlaps folders[1]", "'crm-*.csv'"),
        ("folders[3]", "contacts as fullload", "folders[1] loads it as append"),
        ("folders[4].path", "archive", "folders[1] keeps its archive files"),
        ("database", "127.0.0.1:9/nowhere", "cannot connect"),
    ]
    for words in expected:
        assert any(all(word in problem for word in words) for problem in problems), (words, problems)
    assert len(problems) == len(expected), problems


def test_check_config_lists_every_invalid_key(tmp_path):
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"folders": [{"path": "x", "table": "", "mode": "upsert", "encoding": "klingon"}],
                                  "workers": 0}))
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "check-config"],
                            capture_output=True, text=True, env=cli_env(), timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith(f"4 problem(s): ({config}: invalid configuration)")
    for key in ("folders.0.table", "folders.0.mode", "folders.0.encoding", "workers"):
        assert f"  - {key}: " in result.stdout


def test_check_config_names_folders_it_cannot_write():
    """Run as an unprivileged user (root may write anywhere) against folders it does not own."""
    as_user: list[str] = []
    if os.geteuid() == 0:
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to drop root for this test"
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    root = Path(tempfile.mkdtemp(prefix="im-check-"))
    try:
        root.chmod(0o755)
        locked = root / "in" / "locked"
        locked.mkdir(parents=True)
        open_folder = root / "open" / "drop"
        open_folder.mkdir(parents=True)
        for folder in (open_folder, open_folder.parent):
            folder.chmod(0o777)
        if not as_user:
            locked.chmod(0o555)
            locked.parent.chmod(0o555)
        database = root / "db"
        database.mkdir(mode=0o777)
        database.chmod(0o777)
        config = _config(root, [{"path": str(locked), "table": "locked"}, {"path": str(open_folder), "table": "ok"}],
                         f"sqlite:///{database / 'ingest.db'}")
        config.chmod(0o644)
        result = subprocess.run([*as_user, sys.executable, "-m", "monitor", "--config", str(config),
                                 "check-config"], capture_output=True, text=True, env=cli_env(), timeout=120,
                                cwd=root)
        assert result.returncode == 2, result.stdout + result.stderr
        problems = [line[4:] for line in result.stdout.splitlines() if line.startswith("  - ")]
        assert any(p.startswith(f"folders[0].path: {locked}: not writable") for p in problems), problems
        assert any(p.startswith("folders[0].path: ") and "processing" in p and "cannot be written" in p
                   for p in problems), problems
        assert not any(p.startswith("folders[1]") for p in problems), problems
    finally:
        for folder in root.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
        shutil.rmtree(root)


def test_demo_loads_both_samples(tmp_path):
    result = subprocess.run([sys.executable, "-m", "monitor", "demo", "--dir", str(tmp_path / "demo"),
                             "--rows", "300", "--timeout", "240"],
                            capture_output=True, text=True, env=cli_env(), timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    loaded = {line.split()[1]: line.split()[5:7] for line in result.stdout.splitlines()
              if " loaded " in line and line.split()[0].isdigit()}
    assert loaded == {"BasicCompanyDataAsOneFile-2026-11-01.zip": ["300", "300"],
                      "contacts-2026-11-22.csv": ["30", "30"]}, result.stdout


@SQLITE_ONLY
def test_the_command_exits_quickly_with_everything_closed(make_workspace, tmp_path):
    """The console script (`monitor.console.console`) skips the interpreter's teardown: its output,
    its exit code and the database must be complete all the same (SQLite's WAL is checkpointed
    and removed only when the last connection closes)."""
    ws = make_workspace(CONTACTS)
    path = write_csv(tmp_path / "a.csv", ["id", "name"], [[str(i), f"n{i}"] for i in range(1000)])
    command = [sys.executable, "-c", "from monitor.operate.console import console; console()",
               "--config", str(ws.config)]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*command, *args], capture_output=True, text=True, env=cli_env(), cwd=ws.root,
                              timeout=120)

    done = run("ingest", str(path))
    assert done.returncode == 0 and "total: 1 file(s)" in done.stdout
    database = Path(ws.url.removeprefix("sqlite:///"))
    assert database.exists() and not database.with_name(database.name + "-wal").exists()
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(1000,)]
    missing = run("ingest", str(tmp_path / "missing.csv"))
    assert missing.returncode == 1 and "not a file" in missing.stderr
