"""The layout holds: imports go one way (operate -> load -> intake -> backends -> the shared
vocabulary, checked by import-linter's contracts in pyproject.toml), no module imports itself
round a circle (not even inside one folder), and no module grows past what one reader takes in."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400


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


def module_imports(package: Path) -> dict[str, set[str]]:
    """Each module of `package` -> the modules of it that it imports at module level (under
    `if TYPE_CHECKING:` too; not inside a function). `from a import b` names the module `a.b`
    when there is one, else `a`."""
    root = package.parent
    paths = {".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
             for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([base] if base else [])])
                found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base
                             for alias in node.names)
        graph[name] = {other for other in found if other in paths and other != name}
    return graph


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run when a module is imported: its body, into `if`, `try` and `with` blocks."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "handlers", "finalbody"):
                for inner in getattr(node, block, []):
                    out.extend(_module_level(inner.body if isinstance(inner, ast.ExceptHandler) else [inner]))
    return out


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other round a circle (strongly connected)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_no_module_imports_itself_round_a_circle():
    circles = import_circles(module_imports(ROOT / "monitor"))
    assert not circles, f"these modules import each other round a circle: {circles}"


def test_a_circle_inside_one_folder_is_found(tmp_path):
    """The finder bites: two modules of one folder that import each other, one of them only
    for type checking, are a circle."""
    folder = tmp_path / "pkg" / "room"
    folder.mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (folder / "__init__.py").write_text("")
    (folder / "a.py").write_text("from pkg.room import b\n")
    (folder / "b.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .a import thing\n")
    (folder / "c.py").write_text("def later():\n    from pkg.room import a\n")
    assert import_circles(module_imports(tmp_path / "pkg")) == [["pkg.room.a", "pkg.room.b"]]
