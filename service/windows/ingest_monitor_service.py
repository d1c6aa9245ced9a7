"""ingest-monitor as a Windows service (pywin32): the same daemon as `ingest-monitor run`.

    python ingest_monitor_service.py --startup auto install
    python ingest_monitor_service.py start | stop | remove

The service reads its configuration from the folder named by the system environment
variable INGEST_MONITOR_HOME (default: the folder two levels above this file): it runs
there, so `config/monitor.json`, `.env` and relative data folders resolve against it
(INGEST_MONITOR_CONFIG still overrides the config path). Logs go to
`<home>/logs/ingest-monitor.log` (rotated). Stopping the service stops the daemon
cleanly: files in flight finish or roll back within `shutdown_timeout`.

Importing this module elsewhere than on Windows is harmless: only `DaemonRunner` is
defined, and it runs the daemon in a thread of any process.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

try:  # pywin32, on Windows only
    import servicemanager
    import win32event
    import win32service
    import win32serviceutil
except ImportError:
    servicemanager = win32event = win32service = win32serviceutil = None

SERVICE_NAME = "ingest-monitor"
DEFAULT_HOME = Path(__file__).resolve().parents[2]


def service_home() -> Path:
    """The folder the service runs in (its config, `.env` and logs)."""
    return Path(os.environ.get("INGEST_MONITOR_HOME") or DEFAULT_HOME)


class DaemonRunner:
    """Runs the daemon as `ingest-monitor run` does, status server included (the page,
    `/metrics` and `/health` on `http_host:http_port`), until `stop` is called."""

    def __init__(self, config: str | Path | None = None, env_file: str | Path | None = None,
                 log_file: str | Path | None = None) -> None:
        self.config = config
        self.env_file = env_file
        self.log_file = log_file
        self.daemon = None
        self.status_server = None
        self._ready = threading.Event()
        self._stop_requested = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        """Run the daemon in the calling thread until `stop` (returns after a clean stop)."""
        from monitor.config import load_settings
        from monitor.operate.logs import setup_logging
        from monitor.operate.runner import running

        with ExitStack() as stack:
            try:
                settings = load_settings(self.config, self.env_file)
                setup_logging(settings.log_format, settings.log_level, log_file=self.log_file)
                self.daemon, self.status_server = stack.enter_context(running(settings))
            except BaseException as exc:
                self.error = exc
                self._ready.set()
                raise
            self._ready.set()
            if self._stop_requested.is_set():
                self.daemon.request_stop()
            self.daemon.run()

    def start(self) -> threading.Thread:
        """Run in a background thread; returns once the daemon exists (or failed to start)."""
        thread = threading.Thread(target=self._run_quietly, name="ingest-monitor", daemon=True)
        thread.start()
        self._ready.wait()
        return thread

    def _run_quietly(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # kept for the caller; the service logs it
            self.error = exc

    def stop(self) -> None:
        """Ask the daemon to stop (it finishes or rolls back files in flight)."""
        self._stop_requested.set()
        if self.daemon is not None:
            self.daemon.request_stop()


if win32serviceutil is not None:

    class IngestMonitorService(win32serviceutil.ServiceFramework):
        """The Windows service: SvcDoRun runs the daemon, SvcStop stops it."""

        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = "ingest-monitor"
        _svc_description_ = "Watches folders for dropped CSV files and loads each into the database exactly once."

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self.stopped = win32event.CreateEvent(None, 0, 0, None)
            home = service_home()
            os.chdir(home)
            (home / "logs").mkdir(exist_ok=True)
            self.runner = DaemonRunner(env_file=home / ".env", log_file=home / "logs" / "ingest-monitor.log")

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=120_000)
            self.runner.stop()
            win32event.SetEvent(self.stopped)

        def SvcDoRun(self) -> None:
            servicemanager.LogMsg(servicemanager.EVENTLOG_INFORMATION_TYPE, servicemanager.PYS_SERVICE_STARTED,
                                  (self._svc_name_, ""))
            try:
                self.runner.run()
            except BaseException as exc:  # one line, as the command line says it
                from monitor.operate.exits import one_line

                servicemanager.LogErrorMsg(f"{SERVICE_NAME} stopped: {one_line(exc)[1]}")
                raise
            servicemanager.LogMsg(servicemanager.EVENTLOG_INFORMATION_TYPE, servicemanager.PYS_SERVICE_STOPPED,
                                  (self._svc_name_, ""))


def main() -> None:
    """`install`, `start`, `stop`, `remove`, ... (pywin32's command line), or run as the service."""
    if win32serviceutil is None:
        sys.exit("this is a Windows service: it needs Windows and pywin32 (pip install pywin32)")
    if len(sys.argv) == 1:  # started by the service control manager
        servicemanager.Initialize()
        servicemanager.PrepareToHostSingle(IngestMonitorService)
        servicemanager.StartServiceCtrlDispatcher()
    else:
        win32serviceutil.HandleCommandLine(IngestMonitorService)


if __name__ == "__main__":
    main()
