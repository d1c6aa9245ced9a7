"""A zip of several CSV files: each member is loaded as a file of its own, then the zip is
archived once (or moved to `failed/` when a member failed)."""

from __future__ import annotations

import hashlib
import logging
import shutil
from datetime import datetime
from pathlib import Path

from monitor.config import FolderRule
from monitor.intake.folders import archive_path, disk_problem, failed_path, fit_name, move_file, work_dir, write_note
from monitor.intake.hashing import stable_sha256
from monitor.load.sets.host import PipelineHost
from monitor.load.state.machine import FileFacts, utcnow
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.source import SourceError, extract_members, member_file_name

log = logging.getLogger("monitor.pipeline")


def expand_zip(
    pipeline: PipelineHost, path: Path, rule: FolderRule, members: list[str], discovered_at: datetime | None,
    keep_source: bool,
) -> Outcome:
    """Each member is extracted and loaded as a file of its own (`archive.zip!member.csv`:
    its own hash, duplicate check and audit row); then the zip itself is archived once (or
    moved to `failed/` if a member failed). Until then the zip stays where it was dropped,
    so a crash only means doing it again (members already loaded end `duplicate`)."""
    info = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = work_dir(rule.path, "processing") / f".expand-{key}"
    outcomes: list[Outcome] = []
    try:
        parts: list[Path] = []
        for member in members:
            name = fit_name(member_file_name(path.name, member))
            if folder / name in parts:  # `x.csv` and `../x.csv` flatten alike
                name = fit_name(f"{name}~{len(parts) + 1}")
            parts.append(folder / name)
        extract_members(path, list(zip(members, parts, strict=True)), pipeline.settings.limits)
        for part in parts:
            outcomes.append(pipeline.process(part, rule, discovered_at=discovered_at, expand=False))
    except SourceError as exc:
        sha256, size, _ = stable_sha256(path)
        facts = FileFacts(str(path.resolve()), path.name, sha256, size, discovered_at)
        return pipeline.fail_unread(path, rule, facts, str(exc), keep_source)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = _summary(path.name, f"{pipeline.backend.schema_for(rule.reference)}.{rule.table}", outcomes)
    if summary.status is OutcomeKind.BUSY:
        return summary  # the zip stays; it is offered again later
    failed = [o for o in outcomes if not o.ok]
    if not keep_source:
        _file_away(path, rule, outcomes, failed)
    log.info("%s: %d member(s): %s", path.name, len(outcomes), ", ".join(f"{o.file} {o.status}" for o in outcomes))
    return summary


def _file_away(path: Path, rule: FolderRule, outcomes: list[Outcome], failed: list[Outcome]) -> None:
    """Archive the zip once every member has ended (or move it to `failed/` with a note
    listing the members that failed). A move that fails leaves it where it was dropped,
    to be expanded again later (its loaded members then end `duplicate`)."""
    first = next((o.load_id for o in outcomes if o.load_id), 0)
    dest = failed_path(rule.path, path.name, first) if failed else archive_path(rule.path, path.name, first, utcnow())
    try:
        move_file(path, dest)
    except OSError as exc:
        log.error("cannot move %s to %s: %s; it stays where it is", path.name, dest.parent,
                  disk_problem(exc, dest.parent))
        return
    if failed:
        write_note(dest.with_name(dest.name + ".error.txt"),
                   f"file: {path}\nmembers failed: {len(failed)} of {len(outcomes)}\n"
                   + "".join(f"{o.file} (load {o.load_id}): {o.error}\n" for o in failed))


def _summary(name: str, target: str, outcomes: list[Outcome]) -> Outcome:
    """The zip's outcome: its members' totals; busy if one is, failed if one did, duplicate
    if all were, else loaded."""
    summary = Outcome(name, OutcomeKind.LOADED, target=target, rows_read=sum(o.rows_read for o in outcomes),
                      rows_loaded=sum(o.rows_loaded for o in outcomes),
                      rows_rejected=sum(o.rows_rejected for o in outcomes),
                      seconds=sum(o.seconds for o in outcomes))
    failed = [o for o in outcomes if not o.ok]
    if any(o.status is OutcomeKind.BUSY for o in outcomes):
        summary.status, summary.error = OutcomeKind.BUSY, "a member is being loaded right now"
    elif failed:
        summary.status = OutcomeKind.FAILED
        summary.error = "; ".join(f"{o.file}: {o.error}" for o in failed)
    elif all(o.status is OutcomeKind.DUPLICATE for o in outcomes):
        summary.status = OutcomeKind.DUPLICATE
    return summary
