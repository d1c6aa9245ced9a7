"""One file's life, stage by stage: hash, claim, take in, read, load, archive or fail."""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import InterfaceError, OperationalError

from monitor.backends import Backend
from monitor.config import FolderRule, Settings
from monitor.folders import archive_path, copy_file, failed_path, move_file, processing_path
from monitor.hashing import sha256_of
from monitor.naming import normalise_header
from monitor.reader import SourceError, iter_batches, sniff
from monitor.rejects import RejectSink
from monitor.state import Claim, FileFacts, StateStore, Status, TransitionError, utcnow
from monitor.strategies import LoadJob, strategy_for

log = logging.getLogger("monitor.pipeline")


@dataclass
class Outcome:
    """How one file ended, for the CLI summary and the daemon's log."""

    file: str
    status: str
    load_id: int | None = None
    target: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    error: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Outcome:
        """The outcome recorded in an audit row."""
        return cls(
            file=row.file_name, status=row.status, load_id=row.load_id,
            target=f"{row.target_schema}.{row.target_table}", rows_read=row.rows_read or 0,
            rows_loaded=row.rows_loaded or 0, rows_rejected=row.rows_rejected or 0,
            seconds=(row.duration_ms or 0) / 1000, error=row.error,
        )

    @property
    def ok(self) -> bool:
        """Loaded or duplicate: nothing for an operator to do."""
        return self.status in (Status.LOADED, Status.DUPLICATE)


@dataclass
class Progress:
    """Live counters of one load in flight."""

    file: str
    target: str
    rows: int = 0
    rejected: int = 0
    started: datetime = field(default_factory=utcnow)


def is_transient(exc: BaseException) -> bool:
    """A lost or refused database connection: retry later, do not fail the file."""
    return isinstance(exc, (OperationalError, InterfaceError))


class Pipeline:
    """Runs files through their stages against one backend."""

    def __init__(self, settings: Settings, backend: Backend, state: StateStore) -> None:
        self.settings = settings
        self.backend = backend
        self.state = state
        self.active: dict[int, Progress] = {}
        self.handling: set[int] = set()
        self._target_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)

    # -- entry points ------------------------------------------------------------------
    def process(
        self,
        path: Path,
        rule: FolderRule,
        *,
        discovered_at: datetime | None = None,
        keep_source: bool = False,
        replay_of: int | None = None,
    ) -> Outcome:
        """Take one stable file through every stage. `keep_source` copies instead of
        moving (for files given on the command line from outside a watched folder)."""
        try:
            sha256, size = sha256_of(path)
        except FileNotFoundError:
            return Outcome(path.name, "vanished", error="the file disappeared before it was hashed")
        facts = FileFacts(str(path.resolve()), path.name, sha256, size, discovered_at)
        schema = self.backend.schema_for(rule.reference)
        claim = self.state.claim(facts, schema, rule.table, rule.mode, replay_of=replay_of)
        if claim.outcome == "busy":
            return Outcome(path.name, "busy", target=f"{schema}.{rule.table}",
                           error="the same content is being loaded into this target right now")
        assert claim.load_id is not None
        self.handling.add(claim.load_id)
        try:
            return self._take_in(claim, path, rule, keep_source)
        finally:
            self.handling.discard(claim.load_id)

    def _take_in(self, claim: Claim, path: Path, rule: FolderRule, keep_source: bool) -> Outcome:
        assert claim.load_id is not None
        if claim.outcome == "duplicate":
            log.info("duplicate %s: same content as load %s", path.name, claim.duplicate_of)
            if not keep_source:
                self._relocate(claim.load_id, path, archive_path(rule.path, path.name, claim.load_id, utcnow()))
            return self._outcome(claim.load_id)
        try:
            self._relocate(claim.load_id, path, processing_path(rule.path, claim.load_id, path.name),
                           copy=keep_source)
        except FileNotFoundError:
            self.state.move(claim.load_id, Status.CLAIMED, Status.FAILED,
                            error=f"{path.name}: the file disappeared before it could be taken in")
            return self._outcome(claim.load_id)
        return self.run(claim.load_id, rule)

    def run(self, load_id: int, rule: FolderRule) -> Outcome:
        """Load a claimed file that sits in `processing/`, then archive it or fail it."""
        row = self.state.get(load_id)
        assert row is not None
        path = Path(row.current_path)
        target = f"{row.target_schema}.{row.target_table}"
        lock = self._target_locks[target] if rule.mode == "fullload" else nullcontext()
        with lock:
            self.state.move(load_id, Status.CLAIMED, Status.LOADING, started_at=utcnow())
            self.active[load_id] = Progress(row.file_name, target)
            self.handling.add(load_id)
            try:
                self._load(load_id, row, rule, path)
            except Exception as exc:
                if is_transient(exc):
                    log.warning("database unavailable while loading %s (load %s): %s",
                                row.file_name, load_id, exc)
                    raise
                message = str(exc) if isinstance(exc, SourceError) else f"{row.file_name}: {exc}"
                log.error("failed %s (load %s): %s", row.file_name, load_id, message)
                self._fail(load_id, path, rule, message)
            else:
                self._archive(load_id, path, rule)
            finally:
                self.active.pop(load_id, None)
                self.handling.discard(load_id)
        return self._outcome(load_id)

    def resume(self, row: Row, rule: FolderRule) -> Outcome:
        """Re-enter the machine for a file found in flight after a crash or takeover."""
        load_id = row.load_id
        self.handling.add(load_id)
        try:
            return self._resume(row, rule)
        finally:
            self.handling.discard(load_id)

    def _resume(self, row: Row, rule: FolderRule) -> Outcome:
        load_id = row.load_id
        strategy = strategy_for(rule.mode, rule.backups)
        if row.status == Status.LOADING:
            job = LoadJob(load_id, row.target_schema, row.target_table)
            with self.backend.reading() as conn:
                committed = strategy.is_committed(conn, self.backend, job)
                loaded = self.backend.rows_of_load(conn, row.target_schema, row.target_table, load_id)
            if committed:
                with self.backend.transaction() as conn:
                    self.state.transition(conn, load_id, Status.LOADING, Status.LOADED, rows_read=loaded,
                                          rows_loaded=loaded, **self.state.finish_timing(conn, load_id))
                self._archive(load_id, Path(row.current_path), rule)
                return self._outcome(load_id)
            self.state.move(load_id, Status.LOADING, Status.CLAIMED, error=None)
        path = self._locate(row)
        if path is None:
            self.state.move(load_id, Status.CLAIMED, Status.FAILED,
                            error=f"{row.file_name}: the file was not found after a restart")
            return self._outcome(load_id)
        taken_in = processing_path(rule.path, load_id, row.file_name)
        if path != taken_in:
            self._relocate(load_id, path, taken_in, copy=not self._in_watched_folder(path))
        return self.run(load_id, rule)

    def finish_move(self, row: Row) -> None:
        """Complete a move that a crash interrupted (source and target were recorded)."""
        source, target = Path(row.current_path), Path(row.pending_move_to)
        if source.exists():
            move_file(source, target)
        elif not target.exists():
            log.error("load %s: %s is neither at %s nor at %s", row.load_id, row.file_name, source, target)
            return
        self.state.update(row.load_id, current_path=str(target), pending_move_to=None)

    # -- stages ------------------------------------------------------------------------
    def _load(self, load_id: int, row: Row, rule: FolderRule, path: Path) -> None:
        fmt = sniff(path, encoding=rule.encoding, delimiter=rule.delimiter)
        columns = normalise_header(fmt.header)
        column_map = json.dumps([{"header": h, "column": c} for h, c in zip(fmt.header, columns, strict=True)])
        schema, table = row.target_schema, row.target_table
        job = LoadJob(load_id, schema, table, columns, rule.null_values)
        strategy = strategy_for(rule.mode, rule.backups)
        strategy.prepare(self.backend, job)
        sink = RejectSink(path.with_name(path.name + ".rejects.csv"))
        progress = self.active[load_id]

        def batches() -> Iterator[list[list[str]]]:
            for batch in iter_batches(path, fmt, self.settings.batch_rows):
                sink.add(batch.rejects)
                progress.rows += len(batch.rows)
                progress.rejected += len(batch.rejects)
                yield batch.rows

        try:
            with self.backend.transaction() as conn:
                loaded = strategy.load(conn, self.backend, job, batches())
                sink.store(conn, load_id)
                self.state.transition(
                    conn, load_id, Status.LOADING, Status.LOADED, rows_read=loaded + sink.count,
                    rows_loaded=loaded, rows_rejected=sink.count, column_map=column_map,
                    **self.state.finish_timing(conn, load_id),
                )
        finally:
            sink.close()
        log.info("loaded %s into %s.%s: %d rows, %d rejected (load %s)",
                 row.file_name, schema, table, loaded, sink.count, load_id)

    def _archive(self, load_id: int, path: Path, rule: FolderRule) -> None:
        row = self.state.get(load_id)
        assert row is not None
        target = archive_path(rule.path, row.file_name, load_id, utcnow())
        self._carry_rejects(path, target)
        self._relocate(load_id, path, target)

    def _fail(self, load_id: int, path: Path, rule: FolderRule, message: str) -> None:
        with self.backend.transaction() as conn:
            self.state.transition(conn, load_id, Status.LOADING, Status.FAILED, error=message,
                                  **self.state.finish_timing(conn, load_id))
        row = self.state.get(load_id)
        assert row is not None
        target = failed_path(rule.path, row.file_name, load_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.with_name(target.name + ".error.txt").write_text(
            f"file: {row.source_path}\nload id: {load_id}\ntarget: {row.target_schema}.{row.target_table}\n"
            f"failed at: {row.finished_at:%Y-%m-%d %H:%M:%S} UTC\nerror: {message}\n",
            encoding="utf-8",
        )
        self._carry_rejects(path, target)
        if path.exists():
            self._relocate(load_id, path, target)

    @staticmethod
    def _carry_rejects(path: Path, target: Path) -> None:
        side = path.with_name(path.name + ".rejects.csv")
        if side.exists():
            move_file(side, target.with_name(target.name + ".rejects.csv"))

    def _relocate(self, load_id: int, source: Path, target: Path, *, copy: bool = False) -> None:
        """Record where the file goes, move (or copy) it, then record that it arrived."""
        self.state.update(load_id, pending_move_to=str(target))
        (copy_file if copy else move_file)(source, target)
        self.state.update(load_id, current_path=str(target), pending_move_to=None)

    def _locate(self, row: Row) -> Path | None:
        for candidate in (row.current_path, row.pending_move_to, row.source_path):
            if candidate and Path(candidate).exists():
                return Path(candidate)
        return None

    def _in_watched_folder(self, path: Path) -> bool:
        return any(rule.path.resolve() == path.resolve().parent for rule in self.settings.folders)

    def _outcome(self, load_id: int) -> Outcome:
        row = self.state.get(load_id)
        assert row is not None
        return Outcome.from_row(row)

    def snapshot(self) -> dict[int, dict[str, Any]]:
        """Loads in flight, for the status page and metrics."""
        return {load_id: vars(progress).copy() for load_id, progress in list(self.active.items())}


__all__ = ["Outcome", "Pipeline", "TransitionError", "is_transient"]
