"""Configuration errors for a newcomer: one line each, all of them at once (the missing
folder with the schema's errors), each unknown key or value with a "did you mean", and the
exit code the table documents (the real CLI)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import cli_env

from monitor.operate.exits import Exit


def _cli(config, *args):
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), *args], capture_output=True,
                          text=True, env=cli_env(), timeout=120, cwd=config.parent)


def test_every_config_problem_at_once_one_line_each_with_did_you_mean(tmp_path):
    missing = tmp_path / "nope" / "in"
    config = tmp_path / "monitor.json"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'x.db'}", "workerz": 3, "folders": [
        {"path": str(missing), "table": "t", "patern": "*.csv", "mode": "apend"}]}))
    checked = _cli(config, "check-config")
    assert checked.returncode == Exit.USAGE, checked.stdout + checked.stderr
    problems = [line[4:] for line in checked.stdout.splitlines() if line.startswith("  - ")]
    assert checked.stdout.startswith(f"4 problem(s): ({config}: invalid configuration)")
    assert sorted(problems) == sorted([
        "folders.0.mode: Input should be 'fullload', 'append' or 'merge' (did you mean 'append'?)",
        "folders.0.patern: Extra inputs are not permitted (did you mean 'pattern'?)",
        "workerz: Extra inputs are not permitted (did you mean 'workers'?)",
        f"folders[0].path: {missing}: the folder does not exist (create it, or correct the path)",
    ])
    ran = _cli(config, "run")
    assert ran.returncode == Exit.USAGE and ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith(f"config error: {config}: ") for line in lines), ran.stderr
    assert any("(did you mean 'pattern'?)" in line for line in lines)
    assert not missing.exists()
