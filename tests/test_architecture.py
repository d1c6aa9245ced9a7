"""The layout holds: imports go one way (operate -> load -> intake -> backends -> the shared
vocabulary, checked by import-linter's contracts in pyproject.toml), and no module grows past
what one reader takes in."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 450


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the package under `root`, with the contracts of `root/pyproject.toml`."""
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": ""})


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_an_import_against_the_layers_breaks_a_contract(tmp_path):
    """The contracts bite: a backend that imports the daemon's operating layer is refused."""
    shutil.copytree(ROOT / "monitor", tmp_path / "monitor", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    base = tmp_path / "monitor" / "backends" / "base.py"
    base.write_text(base.read_text() + "\nfrom monitor.operate import audit  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "monitor.backends.base -> monitor.operate.audit" in result.stdout


def test_no_module_is_longer_than_a_reader_takes_in():
    long = {str(path.relative_to(ROOT)): lines for path in (ROOT / "monitor").rglob("*.py")
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules (more than {MAX_MODULE_LINES} lines): {long}"
