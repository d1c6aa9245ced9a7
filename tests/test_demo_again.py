"""`demo` for a newcomer: run again, it drops new files and waits for its own (not the newest
rows of any file), it honours `--config`, and it ends with what to type next, which works
(the real CLI)."""

from __future__ import annotations

import subprocess
import sys

from conftest import cli_env


def _demo(cwd, *args):
    return subprocess.run([sys.executable, "-m", "monitor", *args, "demo", "--rows", "200", "--timeout", "240"],
                          capture_output=True, text=True, env=cli_env(), timeout=300, cwd=cwd)


def _loaded(out: str) -> list[str]:
    return sorted(line.split()[1] for line in out.splitlines() if " loaded " in line and line.split()[0].isdigit())


def test_demo_runs_again_with_new_files_and_says_what_to_type_next(tmp_path):
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr[-3000:]
    assert _loaded(first.stdout) == ["BasicCompanyDataAsOneFile-2026-11-01.zip", "contacts-2026-11-22.csv"]
    second = _demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr[-3000:]
    assert _loaded(second.stdout) == ["BasicCompanyDataAsOneFile-2026-11-02.zip", "contacts-2026-11-23.csv"]
    config = tmp_path / "demo" / "monitor.json"
    assert f"ingest-monitor --config {config} status" in second.stdout.replace("demo/monitor.json", str(config))
    assert "next:" in second.stdout and " run " in second.stdout and "again, with new files" in second.stdout
    third = _demo(tmp_path, "--config", str(config))
    assert third.returncode == 0, third.stdout + third.stderr[-3000:]
    assert _loaded(third.stdout) == ["BasicCompanyDataAsOneFile-2026-11-03.zip", "contacts-2026-11-24.csv"]
    status = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "status", "--json"],
                            capture_output=True, text=True, env=cli_env(), timeout=120, cwd=tmp_path)
    assert status.returncode == 0 and status.stdout.count('"status": "loaded"') == 6, status.stdout[-2000:]
