"""`ingest-monitor demo`: a workspace (or the config given), fresh sample files each run, the
daemon until those files (and only those) are loaded, their audit rows, and what to type next."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from monitor.config import load_settings
from monitor.demo.workspace import demo_folders, drop_samples, next_run, write_demo_workspace
from monitor.load.state.machine import TERMINAL, Status
from monitor.operate import audit
from monitor.operate.app import build_app, shown_url
from monitor.operate.daemon import Daemon

COLUMNS = ["load_id", "file_name", "target", "mode", "status", "rows_read", "rows_loaded", "rows_rejected",
           "finished_at", "error"]


def run_demo(root: Path, rows: int, timeout: float, config: str | None, env_file: str | None) -> int:
    """Drop this run's samples, load them with the daemon, print them and the next steps; 0
    when every one loaded."""
    settings = load_settings(config, env_file) if config else write_demo_workspace(root, env_file)
    shown = config or str(root / "monitor.json")
    folders = demo_folders(settings)
    app = build_app(settings)
    before = max((row["load_id"] for row in audit.recent(app.backend, limit=1)), default=0)
    daemon = Daemon(app)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    names = {path.name for path in drop_samples(root, rows, next_run(root), folders)}
    deadline = time.monotonic() + timeout
    mine: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        mine = [row for row in audit.recent(app.backend, limit=50)
                if int(str(row["load_id"])) > before and row["file_name"] in names]
        if len(mine) >= len(names) and all(row["status"] in TERMINAL for row in mine):
            break
        time.sleep(0.5)
    daemon.stop_event.set()
    thread.join(timeout=30)
    app.close()
    print(audit.table(mine, COLUMNS) if mine else f"nothing loaded within {timeout:g} s")
    ok = len(mine) == len(names) and all(row["status"] == Status.LOADED for row in mine)
    print(f"\ndemo database: {shown_url(settings.database_url)}; config: {shown}")
    print("next:")
    print(f"  ingest-monitor --config {shown} status          the audit trail, newest first")
    if mine:
        print(f"  ingest-monitor --config {shown} show {mine[0]['load_id']}          one load in full")
    print(f"  ingest-monitor --config {shown} run             the daemon; its page on "
          f"http://{settings.http_host}:{settings.http_port}/")
    print(f"  ingest-monitor{' --config ' + config if config else ''} demo{'' if config else f' --dir {root}'}"
          f"    again, with new files")
    return 0 if ok else 1
