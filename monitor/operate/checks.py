"""`check-config`: every problem with a configuration and its database, named, all at once."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from monitor.backends import option_problems
from monitor.config import ConfigError, FolderRule, Settings, load_settings
from monitor.errors import first_line
from monitor.intake.folders import work_dir
from monitor.intake.patterns import patterns_overlap

PING_TIMEOUT = 15.0
WORK_KINDS = ("processing", "archive", "failed")


def _writable(folder: Path) -> str | None:
    """None when a file can be created (and removed) in `folder`, else why not."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ingest-monitor-check-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def missing_folder(index: int, rule: FolderRule) -> str | None:
    """Why a rule's watched folder cannot be watched (it does not exist, or is not a folder)."""
    key, folder = f"folders[{index}].path", rule.path.resolve()
    if not folder.exists():
        return f"{key}: {folder}: the folder does not exist (create it, or correct the path)"
    if not folder.is_dir():
        return f"{key}: {folder}: not a folder"
    return None


def folder_problems(index: int, rule: FolderRule) -> list[str]:
    """The watched folder and its work folders exist (or can be made) and are writable."""
    key, folder = f"folders[{index}].path", rule.path.resolve()
    missing = missing_folder(index, rule)
    if missing:
        return [missing]
    problems = []
    if not os.access(folder, os.R_OK | os.X_OK):
        problems.append(f"{key}: {folder}: not readable")
    why = _writable(folder)
    if why:
        problems.append(f"{key}: {folder}: not writable ({why}); files are moved out of it")
    for kind in WORK_KINDS:
        work = work_dir(folder, kind)
        place = _nearest_existing(work)
        if not place.is_dir():
            problems.append(f"{key}: {work}: cannot be created ({place} is not a folder)")
            continue
        why = _writable(place)
        if why:
            problems.append(f"{key}: {work}: cannot be written ({place}: {why})")
    return problems


def rule_problems(settings: Settings) -> list[str]:
    """Rules that shadow each other, fight over a target, or watch another rule's work folders."""
    problems = []
    rules = list(enumerate(settings.folders))
    for i, rule in rules:
        folder = rule.path.resolve()
        for j, other in rules[:i]:
            other_folder = other.path.resolve()
            if folder == other_folder and patterns_overlap(other.pattern, rule.pattern):
                problems.append(
                    f"folders[{i}]: overlaps folders[{j}]: both watch {folder} and the patterns "
                    f"{other.pattern!r} and {rule.pattern!r} match the same names (the first rule wins)"
                )
            if other.target == rule.target and other.mode != rule.mode:
                problems.append(f"folders[{i}]: loads {rule.target} as {rule.mode} but folders[{j}] "
                                f"loads it as {other.mode}")
        owner = next((j for j, other in rules if any(folder == work_dir(other.path, kind) for kind in WORK_KINDS)),
                     None)
        if owner is not None:
            problems.append(f"folders[{i}].path: {folder} is where folders[{owner}] keeps its "
                            f"{folder.parent.name} files")
    return list(dict.fromkeys(problems))


def rule_warnings(settings: Settings) -> list[str]:
    """Rules of different folders whose patterns match the same names: `ingest FILE` from
    outside the watched folders refuses such a file unless `--rule` names one."""
    warnings = []
    rules = list(enumerate(settings.folders))
    for i, rule in rules:
        for j, other in rules[:i]:
            if rule.path.resolve() != other.path.resolve() and patterns_overlap(other.pattern, rule.pattern):
                warnings.append(
                    f"folders[{i}] ({rule.label}) and folders[{j}] ({other.label}): the patterns {rule.pattern!r} and "
                    f"{other.pattern!r} match the same names; `ingest FILE` from outside their folders refuses "
                    f"such a file unless --rule {rule.label} or --rule {other.label} chooses"
                )
    return warnings


def database_problems(url: str, timeout: float = PING_TIMEOUT) -> tuple[list[str], str]:
    """Whether the database answers within `timeout` seconds; the problems, and a note."""
    from sqlalchemy.engine import make_url

    from monitor.backends import open_backend
    from monitor.load import setup

    shown = url
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        backend = open_backend(url)
    except Exception as exc:  # a bad URL or a missing driver, named for the operator
        return [f"database_url: {shown}: {exc}"], ""
    result: dict[str, object] = {}

    def probe() -> None:
        try:
            backend.ping()
            result["ready"] = setup.is_initialised(backend)
            result["refused"] = backend.write_problem()
        except Exception as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=probe, name="check-database", daemon=True)
    thread.start()
    thread.join(timeout)
    try:
        if thread.is_alive():
            return [f"database: {shown}: no answer within {timeout:.0f}s"], ""
        if "error" in result:
            error = result["error"]
            assert isinstance(error, BaseException)
            return [f"database: {shown}: cannot connect: {first_line(error)}"], ""
        if result.get("refused"):
            return [f"database: {shown}: {result['refused']}"], ""
        note = "tables ready" if result.get("ready") else "tables not created yet (`init-db`, or `run` creates them)"
        return [], f"database answers ({backend.name}, {shown}); {note}"
    finally:
        if not thread.is_alive():
            backend.dispose()


def raw_folder_problems(path: Path) -> list[str]:
    """The watched folders that do not exist, read from a config that does not validate (so
    they are listed with its other problems, all at once)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        rules = raw.get("folders") if isinstance(raw, dict) else None
    except (OSError, ValueError):
        return []
    problems = []
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(rule, dict) and isinstance(rule.get("path"), str) and rule.get("table"):
            try:
                valid = FolderRule.model_validate({"path": rule["path"], "table": rule["table"]})
            except ValueError:
                continue
            problem = missing_folder(index, valid)
            if problem:
                problems.append(problem)
    return problems


def check(config: str | Path | None, env_file: str | Path | None) -> tuple[list[str], list[str], list[str]]:
    """Every problem found, notes on what is fine, and warnings (fine, but worth knowing)."""
    try:
        settings = load_settings(config, env_file)
    except ConfigError as exc:
        if not exc.problems or exc.source is None:
            return [str(exc)], [], []
        return [*exc.problems, *raw_folder_problems(exc.source)], [f"{exc.source}: invalid configuration"], []
    problems: list[str] = []
    for index, rule in enumerate(settings.folders):
        problems.extend(folder_problems(index, rule))
    problems.extend(rule_problems(settings))
    problems.extend(option_problems(settings.backend))
    db_problems, note = database_problems(settings.database_url)
    problems.extend(db_problems)
    notes = [f"{len(settings.folders)} folder rule(s)"] + ([note] if note else [])
    return problems, notes, rule_warnings(settings)
