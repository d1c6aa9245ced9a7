"""Every command says what went wrong in one line, with its documented exit code, never a
traceback: a database on a wrong port, a database that does not exist, a mistyped URL scheme,
a file that cannot be written; `run` refuses a missing folder and a second daemon of the same
instance; the global options work after the command; `--version`; `status --target` of a
target nobody loads; `show` of a file never read; `ingest --json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONTACTS, PG_ADMIN_URL, DaemonProcess, cli_env, wait_for, write_csv

from monitor.operate.exits import Exit

WRONG_PORT = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"
MISSING_DB = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/im_no_such_db"
WRONG_SCHEME = "postgress://postgres@127.0.0.1:5432/test"
COMMANDS = [["status"], ["show", "1"], ["retry", "1"], ["replay", "1"], ["init-db"], ["ingest", "FILE"]]


def _workspace(tmp_path: Path, url: str) -> tuple[Path, Path]:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"database_url": url, "folders": [{"path": str(folder), "table": "t"}],
                                  "http_port": 0}))
    return config, write_csv(folder / "a.csv", ["x"], [["1"]])


def _run(config: Path, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args, "--config", str(config)], capture_output=True,
                          text=True, env=cli_env(), timeout=timeout, cwd=cwd)


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr and result.stdout == "", result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("url", "code", "words"), [
    (WRONG_PORT, Exit.DATABASE, ["database unavailable: postgresql+psycopg://postgres@127.0.0.1:9/nowhere:",
                                 "Connection refused"]),
    (MISSING_DB, Exit.DATABASE, ["database unavailable:", 'database "im_no_such_db" does not exist']),
    (WRONG_SCHEME, Exit.USAGE, ["config error: database_url: postgress://postgres@127.0.0.1:5432/test: "
                                "unknown database URL scheme 'postgress'"]),
], ids=["wrong-port", "missing-database", "wrong-scheme"])
def test_every_command_says_a_database_problem_in_one_line(tmp_path, url, code, words):
    config, csv = _workspace(tmp_path, url)
    for command in COMMANDS:
        args = [str(csv) if arg == "FILE" else arg for arg in command]
        result = _run(config, *args, cwd=tmp_path)
        line = _one_line(result)
        assert result.returncode == code, (command, result.returncode, line)
        assert all(word in line for word in words), (command, line)
    assert csv.exists(), "a file is never moved when its database cannot be reached"


def test_run_refuses_a_mistyped_scheme_and_a_missing_folder_in_one_line(tmp_path):
    config, _ = _workspace(tmp_path, WRONG_SCHEME)
    result = _run(config, "run", cwd=tmp_path)
    assert result.returncode == Exit.USAGE and "unknown database URL scheme 'postgress'" in _one_line(result)
    missing = tmp_path / "nonexistent" / "in" / "a"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}", "http_port": 0,
                                  "folders": [{"path": str(missing), "table": "t"}]}))
    result = _run(config, "run", cwd=tmp_path)
    line = _one_line(result)
    assert result.returncode == Exit.USAGE, line
    assert line == (f"config error: not starting: folders[0].path: {missing}: the folder does not exist "
                    "(create it, or correct the path)")
    assert not missing.exists() and not (tmp_path / "nonexistent").exists(), "a mistyped folder is never created"


def test_ddl_to_a_missing_folder_and_the_version(tmp_path):
    result = subprocess.run([sys.executable, "-m", "monitor", "ddl", "--out", "/nodir/x.sql"], capture_output=True,
                            text=True, env=cli_env(), timeout=120, cwd=tmp_path)
    assert result.returncode == Exit.FAILED
    assert _one_line(result) == "error: /nodir/x.sql: No such file or directory"
    version = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True,
                             env=cli_env(), timeout=120)
    from monitor import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"ingest-monitor {__version__}"


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_options_after_the_command_unknown_targets_and_files_never_read(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    empty = ws.folder("contacts") / "empty.csv"
    empty.write_bytes(b"")
    failed = subprocess.run([sys.executable, "-m", "monitor", "ingest", str(empty), "--config", str(ws.config)],
                            capture_output=True, text=True, env=cli_env(), timeout=120, cwd=ws.root)
    assert failed.returncode == Exit.FAILED
    assert [line for line in failed.stderr.splitlines()] == [f"error: {failed_error(ws)}"], "said once"
    result = subprocess.run([sys.executable, "-m", "monitor", "status", "--json", "--config", str(ws.config)],
                            capture_output=True, text=True, env=cli_env(), timeout=120, cwd=ws.root)
    assert result.returncode == 0 and [r["file_name"] for r in json.loads(result.stdout)] == ["empty.csv"]
    nosuch = ws.cli("status", "--target", "nosuch", check=False)
    assert nosuch.returncode == Exit.FAILED and nosuch.stdout == ""
    assert nosuch.stderr.strip() == "no such target: nosuch (the audit trail knows: main.contacts)"
    assert ws.cli("status", "--target", "contacts", "--status", "loaded").stdout.strip() == "no loads yet"
    shown = ws.cli("show", "empty.csv").stdout
    assert "rows          read -, loaded -, rejected 0" in shown and "None" not in shown


def failed_error(ws) -> str:
    return ws.query("SELECT error FROM ingest_files WHERE file_name = 'empty.csv'")[0][0]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_retry_says_its_error_once(make_workspace):
    ws = make_workspace({**CONTACTS, "encoding": "ascii"})
    dropped = write_csv(ws.folder("contacts") / "crm.csv", ["name"], [["Zoë"]])
    assert ws.cli("ingest", str(dropped), check=False).returncode == Exit.FAILED
    [(load_id,)] = ws.query("SELECT load_id FROM ingest_files")
    again = ws.cli("retry", str(load_id), check=False)
    assert again.returncode == Exit.FAILED
    assert again.stderr.count("not valid ascii") == 1, again.stderr
    assert again.stderr.splitlines() == [f"error: {ws.query('SELECT MAX(error) FROM ingest_files')[0][0]}"]


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_ingest_json(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = write_csv(tmp_path / "people.csv", ["a", "b"], [["1", "2"], ["3"]])
    result = ws.cli("ingest", "--json", str(path))
    assert result.returncode == Exit.REJECTS
    [record] = json.loads(result.stdout)
    assert {k: record[k] for k in ("file", "status", "target", "rows_read", "rows_loaded", "rows_rejected")} == {
        "file": "people.csv", "status": "loaded", "target": "main.contacts", "rows_read": 2, "rows_loaded": 1,
        "rows_rejected": 1}
    assert Path(record["rejects_file"]).is_file() and Path(record["path"]).is_file()
    assert record["rejects_file"] == record["path"] + ".rejects.csv"


@pytest.mark.parametrize("backend_url", ["sqlite", "postgresql"], indirect=True)
def test_a_second_daemon_of_the_same_instance_refuses_to_start(make_workspace):
    ws = make_workspace(CONTACTS, http_port=0)
    first = DaemonProcess(ws, [], env=cli_env(INGEST_INSTANCE="loader-01"))
    try:
        wait_for(lambda: "ingest-monitor running" in first.output(), timeout=60)
        second = subprocess.run([sys.executable, "-m", "monitor", "--config", str(ws.config), "run"],
                                capture_output=True, text=True, timeout=120, cwd=ws.root,
                                env=cli_env(INGEST_INSTANCE="loader-01"))
        assert second.returncode == Exit.RUNNING, second.stderr
        line = _one_line(second)
        assert line.startswith(f"refused: another ingest-monitor (pid {first.proc.pid}) already runs as instance "
                               "'loader-01' on this host against ")
        other = DaemonProcess(ws, [], env=cli_env(INGEST_INSTANCE="loader-02"))  # another name may run
        wait_for(lambda: "ingest-monitor running" in other.output(), timeout=60)
        assert other.stop() == 0
    finally:
        assert first.stop() == 0
    again = DaemonProcess(ws, [], env=cli_env(INGEST_INSTANCE="loader-01"))  # the lock went with the process
    wait_for(lambda: "ingest-monitor running" in again.output(), timeout=60)
    assert again.stop() == 0
