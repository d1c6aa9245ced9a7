"""The README's five-minute quick start runs as written: its shell block, in a fresh folder
with this checkout's virtual environment."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import cli_env

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> str:
    section = (ROOT / "README.md").read_text().split("\n## Your own folder in five minutes\n", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert found, "the quick start has a bash block"
    return found.group(1)


def test_the_quick_start_runs_as_written(tmp_path):
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    (tmp_path / "config").mkdir()
    result = subprocess.run(["bash", "-e", "-c", quick_start()], cwd=tmp_path, capture_output=True, text=True,
                            timeout=240, env=cli_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("config ok: 1 folder rule(s); database answers (sqlite")
    status = [line.split() for line in result.stdout.splitlines() if "orders-1.csv" in line]
    assert status[0][:5] == ["1", "orders-1.csv", "main.orders", "append", "loaded"] and status[0][5:7] == ["2", "2"]
    assert "load 1: orders-1.csv -> main.orders (append): loaded" in result.stdout
    assert list((tmp_path / "data" / "incoming" / "archive" / "orders").rglob("orders-1.csv"))
    assert "Traceback" not in result.stderr
