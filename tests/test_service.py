"""Running as a service: the systemd unit, sd_notify over a real socket (with the real
daemon), and the Windows service module (import-safe here, running the same daemon)."""

from __future__ import annotations

import importlib.util
import json
import logging
import py_compile
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CONTACTS, DaemonProcess, cli_env, wait_for, write_csv
from dotenv import dotenv_values
from test_web_status import free_port, get

from monitor.operate.notify import Notifier

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "service" / "systemd" / "ingest-monitor.service"
WINDOWS_SERVICE = ROOT / "service" / "windows" / "ingest_monitor_service.py"


def _directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_systemd_unit_is_hardened_and_systemd_analyze_accepts_it(tmp_path):
    text = UNIT.read_text(encoding="utf-8")
    unit = _directives(text)
    assert unit["Type"] == ["notify"] and unit["Restart"] == ["on-failure"]
    assert int(unit["WatchdogSec"][0]) > 0
    assert unit["User"] and unit["User"] != ["root"]
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["ReadWritePaths"] and unit["EnvironmentFile"]
    assert not any(path.startswith("-") for path in unit["EnvironmentFile"]), "a missing env file must fail the start"
    assert unit["ExecStart"][0].split()[-1] == "run"
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"], "systemctl reload sends SIGHUP (tests/test_reload.py)"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd): the unit cannot be verified")
    # Verified as shipped, except that ExecStart points at this checkout's console script
    # instead of /opt/ingest-monitor (systemd-analyze checks that the program exists).
    installed = Path(sys.executable).with_name("ingest-monitor")
    assert installed.exists()
    local = tmp_path / UNIT.name
    local.write_text(text.replace("/opt/ingest-monitor/.venv/bin/ingest-monitor", str(installed)), encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=120)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if UNIT.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_systemd_analyze_security_rates_the_unit_ok_or_better():
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    result = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(UNIT)], capture_output=True,
                            text=True, timeout=120)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", result.stdout)
    assert found, result.stdout + result.stderr
    score, rating = float(found.group(1)), found.group(2)
    assert rating in ("SAFE", "OK") and score < 4.0, result.stdout[-3000:]


def _environment_as_systemd_builds_it(unit_text: str, env_file: Path) -> dict[str, str]:
    """The service's environment as systemd.exec(5) documents it: `Environment=` lines, then
    the `EnvironmentFile=` assignments, which override them."""
    env: dict[str, str] = {}
    for value in _directives(unit_text).get("Environment", []):
        key, _, setting = value.partition("=")
        env[key] = setting
    env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    return env


def test_the_example_env_file_does_not_override_the_units_config_path(tmp_path):
    """Installed as the README says (config/.env.example as the unit's EnvironmentFile), the
    daemon still reads the config the unit names, and the env file's database URL."""
    unit_text = UNIT.read_text(encoding="utf-8")
    env_file = tmp_path / "ingest-monitor.env"
    shutil.copy(ROOT / "config" / ".env.example", env_file)
    env = _environment_as_systemd_builds_it(unit_text, env_file)
    assert env["INGEST_MONITOR_CONFIG"] == "/etc/ingest-monitor/monitor.json"
    assert "INGEST_DATABASE_URL" in env
    # The daemon with that environment, the unit's config path pointing at a real config here.
    (tmp_path / "in").mkdir()
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"folders": [{"path": str(tmp_path / "in"), "table": "t"}]}))
    env_file.write_text(env_file.read_text().replace("sqlite:///data/ingest.db",
                                                     f"sqlite:///{tmp_path / 'db.sqlite'}"))
    env = _environment_as_systemd_builds_it(unit_text.replace("/etc/ingest-monitor/monitor.json", str(config)),
                                            env_file)
    result = subprocess.run([sys.executable, "-m", "monitor", "check-config"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env={**cli_env(), **env})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("config ok: 1 folder rule(s); database answers (sqlite")
    assert str(tmp_path / "db.sqlite") in result.stdout


def _listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    return sock


def test_notifier_sends_datagrams_and_paces_the_watchdog(tmp_path):
    with _listen(tmp_path / "notify") as sock:
        notifier = Notifier(str(tmp_path / "notify"), watchdog_usec="2000000", watchdog_pid="")
        assert notifier.enabled and notifier.watchdog_interval == 2.0
        assert notifier.ready("watching 1 folder")
        assert sock.recv(4096) == b"READY=1\nSTATUS=watching 1 folder"
        assert notifier.watchdog(now=100.0)
        assert not notifier.watchdog(now=100.5)  # pings at half the interval, not more often
        assert notifier.watchdog(now=101.1)
        assert sock.recv(4096) == b"WATCHDOG=1" and sock.recv(4096) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
    assert not Notifier("", watchdog_usec="").ready()  # not under systemd: nothing to do
    assert Notifier(str(tmp_path / "notify"), watchdog_usec="1000", watchdog_pid="1").watchdog_interval == 0
    assert not Notifier(str(tmp_path / "gone"), watchdog_usec="").ready()  # a dead socket is not fatal


def test_notifier_reaches_an_abstract_socket():
    name = f"ingest-monitor-test-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert Notifier("@" + name, watchdog_usec="").status("hello")
        assert sock.recv(4096) == b"STATUS=hello"


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_the_daemon_says_ready_pings_the_watchdog_and_says_stopping(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    address = Path(f"/tmp/im-notify-{time.monotonic_ns()}")  # unix socket paths are short
    received: list[bytes] = []
    with _listen(address) as sock:
        daemon = DaemonProcess(ws, [], env=cli_env(NOTIFY_SOCKET=str(address), WATCHDOG_USEC="1000000"))
        try:
            def collect(until: bytes) -> None:
                while until not in received:
                    received.append(sock.recv(4096))

            collect(b"READY=1\nSTATUS=watching 1 folder(s); idle")
            while received.count(b"WATCHDOG=1") < 3:
                received.append(sock.recv(4096))
            daemon.proc.terminate()
            while not received[-1].startswith(b"STOPPING=1"):
                received.append(sock.recv(4096))
        finally:
            assert daemon.stop() == 0
            address.unlink(missing_ok=True)
    assert received[:2] == [b"STATUS=starting: opening the database", b"STATUS=recovering interrupted loads"]
    assert received.index(b"READY=1\nSTATUS=watching 1 folder(s); idle") < received.index(b"WATCHDOG=1")


def _windows_module():
    spec = importlib.util.spec_from_file_location("ingest_monitor_service", WINDOWS_SERVICE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_windows_service_compiles_and_imports_without_pywin32():
    py_compile.compile(str(WINDOWS_SERVICE), doraise=True)
    module = _windows_module()
    assert module.SERVICE_NAME == "ingest-monitor"
    if sys.platform != "win32":
        assert module.win32serviceutil is None and not hasattr(module, "IngestMonitorService")
        result = subprocess.run([sys.executable, str(WINDOWS_SERVICE), "install"], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode != 0 and "needs Windows and pywin32" in result.stderr
    readme = (WINDOWS_SERVICE.parent / "README.md").read_text(encoding="utf-8")
    assert "sc.exe failure ingest-monitor" in readme and "sc.exe failureflag ingest-monitor 1" in readme
    for step in ("install", "start", "stop", "remove"):
        assert f"ingest_monitor_service.py {step}" in readme or f"ingest_monitor_service.py --startup auto {step}" \
            in readme, step


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_the_windows_service_runner_runs_the_daemon_and_stops_it(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    runner = _windows_module().DaemonRunner(config=ws.config, env_file=tmp_path / "none.env",
                                            log_file=tmp_path / "service.log")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    thread = runner.start()  # what SvcDoRun does, in a thread of this process
    try:
        assert runner.error is None and runner.daemon is not None
        assert runner.status_server is not None and runner.status_server.url == f"http://127.0.0.1:{port}/"
        base = runner.status_server.url
        _, _, body = wait_for(lambda: (r := get(base + "health"))[0] == 200 and r, timeout=60)
        assert json.loads(body)["status"] == "ok"
        write_csv(ws.folder("contacts") / "one.csv", ["a"], [["1"]])
        wait_for(lambda: ws.query("SELECT status FROM ingest_files") == [("loaded",)], timeout=60)
        status, _, metrics = get(base + "metrics")
        assert status == 200 and 'ingest_files_total{status="loaded",target="main.contacts"} 1.0' in metrics
        assert get(base)[0] == 200 and 'id="loads"' in get(base)[2]
    finally:
        runner.stop()  # what SvcStop does
        thread.join(timeout=60)
        for handler in root.handlers:
            handler.close()
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    assert not thread.is_alive() and runner.error is None
    with pytest.raises(OSError):  # the status server stopped with the service
        get(f"http://127.0.0.1:{port}/health")
    log = (tmp_path / "service.log").read_text(encoding="utf-8")
    assert "ingest-monitor running" in log and log.rstrip().endswith("stopped")
