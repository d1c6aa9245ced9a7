"""One file's life, stage by stage: hash, claim, take in, read, load, archive or fail."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import InterfaceError, OperationalError

from monitor.backends import Backend
from monitor.config import FolderRule, Settings
from monitor.fastpath import RawSource, RowStream
from monitor.folders import archive_path, copy_file, failed_path, free_path, move_file, processing_path, work_dir
from monitor.hashing import stable_sha256
from monitor.isolation import careful_inserter, load_file
from monitor.naming import normalise_header
from monitor.policies import RejectPolicy, plan_load
from monitor.reader import (
    FileGuard,
    Reject,
    SourceError,
    SourceFormat,
    compression_of,
    extract_member,
    iter_batches,
    member_file_name,
    sniff,
    zip_members,
)
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


class LoadCancelled(Exception):
    """The daemon is stopping: the load in flight rolls back and resumes on the next start."""


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
        self.cancel = threading.Event()  # set: loads in flight roll back at their next batch
        self._target_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._hashed: dict[int, tuple[int, int]] = {}  # load id -> (size, mtime_ns) when hashed

    # -- entry points ------------------------------------------------------------------
    def process(
        self,
        path: Path,
        rule: FolderRule,
        *,
        discovered_at: datetime | None = None,
        keep_source: bool = False,
        replay_of: int | None = None,
        expand: bool = True,
    ) -> Outcome:
        """Take one stable file through every stage. `keep_source` copies instead of
        moving (for files given on the command line from outside a watched folder).
        A symbolic link is refused unread; a zip of several CSV files is loaded member
        by member (`_expand`; `expand=False` for the members themselves)."""
        try:
            if path.is_symlink():
                return self._refuse_link(path, rule, discovered_at, keep_source)
            if replay_of is None and expand and compression_of(path) == "zip":
                members = zip_members(path)
                if len(members) > 1:
                    return self._expand(path, rule, members, discovered_at, keep_source)
        except FileNotFoundError:
            return Outcome(path.name, "vanished", error="the file disappeared before it was hashed")
        except SourceError:
            pass  # an unreadable zip is loaded as one file, and fails with the reason
        try:
            sha256, size, stat = stable_sha256(path)
        except FileNotFoundError:
            return Outcome(path.name, "vanished", error="the file disappeared before it was hashed")
        facts = FileFacts(str(path.resolve()), path.name, sha256, size, discovered_at)
        schema = self.backend.schema_for(rule.reference)
        archive_to = None if keep_source else (lambda load_id: archive_path(rule.path, path.name, load_id, utcnow()))
        claim = self.state.claim(facts, schema, rule.table, rule.mode, replay_of=replay_of, archive_to=archive_to)
        if claim.outcome == "busy":
            return Outcome(path.name, "busy", target=f"{schema}.{rule.table}",
                           error="the same content is being loaded into this target right now")
        if claim.outcome == "vanished":
            return Outcome(path.name, "vanished", error="the file left its folder (taken by another instance)")
        assert claim.load_id is not None
        if claim.outcome == "claimed" and stat is not None:
            self._hashed[claim.load_id] = stat
        self.handling.add(claim.load_id)
        try:
            return self._take_in(claim, path, rule, keep_source)
        finally:
            self.handling.discard(claim.load_id)

    def _fail_unread(self, path: Path, rule: FolderRule, facts: FileFacts, message: str, keep_source: bool) -> Outcome:
        """Record a file that is refused before it is read: claimed, then failed (and moved
        to `failed/` with its `.error.txt`, unless it is kept where it is)."""
        schema = self.backend.schema_for(rule.reference)
        claim = self.state.claim(facts, schema, rule.table, rule.mode)
        if claim.outcome != "claimed" or claim.load_id is None:
            return Outcome(path.name, "busy", target=f"{schema}.{rule.table}", error=message)
        target = None if keep_source else failed_path(rule.path, path.name, claim.load_id)
        log.error("refused %s (load %s): %s", path.name, claim.load_id, message)
        with self.backend.transaction() as conn:
            self.state.transition(conn, claim.load_id, Status.CLAIMED, Status.FAILED, error=message,
                                  pending_move_to=str(target) if target else None,
                                  **self.state.finish_timing(conn, claim.load_id))
        row = self.state.get(claim.load_id)
        if row is not None and row.pending_move_to:
            self.finish_move(row)
        return self._outcome(claim.load_id)

    def _refuse_link(self, path: Path, rule: FolderRule, discovered_at: datetime | None, keep_source: bool) -> Outcome:
        """A symbolic link is never followed: its target (maybe outside the watched folder)
        is not read. The audit row's sha256 is that of the link itself (path and target)."""
        target = os.readlink(path)
        outside = path.resolve().parent != rule.path.resolve()
        where = "outside the watched folder; its target is not read" if outside else "links are not followed"
        message = f"{path.name}: refused: a symbolic link to {target} ({where}); drop the file itself"
        digest = hashlib.sha256(f"symlink\0{path.absolute()}\0{target}".encode()).hexdigest()
        facts = FileFacts(str(path.absolute()), path.name, digest, 0, discovered_at)
        return self._fail_unread(path, rule, facts, message, keep_source)

    def _expand(
        self, path: Path, rule: FolderRule, members: list[str], discovered_at: datetime | None, keep_source: bool
    ) -> Outcome:
        """A zip of several CSV files: each member is extracted and loaded as a file of its
        own (`archive.zip!member.csv`: its own hash, duplicate check and audit row); then
        the zip itself is archived once (or moved to `failed/` if a member failed). Until
        then the zip stays where it was dropped, so a crash only means doing it again
        (members already loaded end `duplicate`)."""
        info = path.stat()
        key = hashlib.sha256(f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}".encode()).hexdigest()[:16]
        folder = work_dir(rule.path, "processing") / f".expand-{key}"
        outcomes: list[Outcome] = []
        try:
            parts: list[Path] = []
            for member in members:
                name = member_file_name(path.name, member)
                if folder / name in parts:  # `x.csv` and `../x.csv` flatten alike
                    name = f"{name}~{len(parts) + 1}"
                extract_member(path, member, folder / name)
                parts.append(folder / name)
            for part in parts:
                outcomes.append(self.process(part, rule, discovered_at=discovered_at, expand=False))
        except SourceError as exc:
            sha256, size, _ = stable_sha256(path)
            facts = FileFacts(str(path.resolve()), path.name, sha256, size, discovered_at)
            return self._fail_unread(path, rule, facts, str(exc), keep_source)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        target = f"{self.backend.schema_for(rule.reference)}.{rule.table}"
        summary = Outcome(path.name, "loaded", target=target, rows_read=sum(o.rows_read for o in outcomes),
                          rows_loaded=sum(o.rows_loaded for o in outcomes),
                          rows_rejected=sum(o.rows_rejected for o in outcomes),
                          seconds=sum(o.seconds for o in outcomes))
        if any(o.status == "busy" for o in outcomes):
            summary.status, summary.error = "busy", "a member is being loaded right now"
            return summary  # the zip stays; it is offered again later
        failed = [o for o in outcomes if not o.ok]
        if failed:
            summary.status = "failed"
            summary.error = "; ".join(f"{o.file}: {o.error}" for o in failed)
        elif all(o.status == "duplicate" for o in outcomes):
            summary.status = "duplicate"
        if not keep_source:
            first = next((o.load_id for o in outcomes if o.load_id), 0)
            dest = failed_path(rule.path, path.name, first) if failed else archive_path(
                rule.path, path.name, first, utcnow())
            move_file(path, dest)
            if failed:
                dest.with_name(dest.name + ".error.txt").write_text(
                    f"file: {path}\nmembers failed: {len(failed)} of {len(outcomes)}\n"
                    + "".join(f"{o.file} (load {o.load_id}): {o.error}\n" for o in failed), encoding="utf-8")
        log.info("%s: %d member(s): %s", path.name, len(outcomes), ", ".join(f"{o.file} {o.status}" for o in outcomes))
        return summary

    def _take_in(self, claim: Claim, path: Path, rule: FolderRule, keep_source: bool) -> Outcome:
        assert claim.load_id is not None
        if claim.outcome == "duplicate":
            log.info("duplicate %s: same content as load %s", path.name, claim.duplicate_of)
            row = self.state.get(claim.load_id)
            if row is not None and row.pending_move_to:
                self.finish_move(row)
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
            except LoadCancelled:
                self.state.release(load_id)
                log.warning("rolled back %s (load %s): the daemon is stopping; it resumes on the next start",
                            row.file_name, load_id)
            except TransitionError as exc:
                log.warning("%s (load %s) was taken over by another instance; leaving it: %s",
                            row.file_name, load_id, exc)
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
                target = archive_path(rule.path, row.file_name, load_id, utcnow())
                with self.backend.transaction() as conn:
                    self.state.transition(conn, load_id, Status.LOADING, Status.LOADED, rows_read=loaded,
                                          rows_loaded=loaded, pending_move_to=str(target),
                                          **self.state.finish_timing(conn, load_id))
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
        elif row.current_path != str(taken_in) or row.pending_move_to:  # moved, not yet recorded
            self.state.update(load_id, current_path=str(taken_in), pending_move_to=None)
        return self.run(load_id, rule)

    def finish_move(self, row: Row) -> None:
        """Carry out the recorded move of a file that reached its end (archive or failed),
        whether it was interrupted by a crash or not; safe to repeat, and safe when another
        instance does the same move at the same time."""
        source, target = Path(row.current_path), Path(row.pending_move_to)
        if row.status == Status.FAILED:
            self._write_error_note(row, target)
        self._carry_rejects(source, target)
        if source.exists():
            if target.exists():  # the name was taken after the move was recorded
                target = free_path(target.parent, target.name, row.load_id)
            try:
                move_file(source, target)
            except FileNotFoundError:
                if not target.exists():
                    raise
        elif not target.exists():
            log.error("load %s: %s is neither at %s nor at %s", row.load_id, row.file_name, source, target)
            return
        self.state.update(row.load_id, current_path=str(target), pending_move_to=None)

    # -- stages ------------------------------------------------------------------------
    def _load(self, load_id: int, row: Row, rule: FolderRule, path: Path) -> None:
        name = row.file_name
        guard = FileGuard(path, name, row.size_bytes, self._hashed.pop(load_id, None))
        fmt = sniff(path, encoding=rule.encoding, delimiter=rule.delimiter, name=name)
        columns = normalise_header(fmt.header)
        column_map = json.dumps([{"header": h, "column": c} for h, c in zip(fmt.header, columns, strict=True)])
        schema, table = row.target_schema, row.target_table
        plan = plan_load(name, fmt.header, columns, rule, self.backend, schema, table)
        job = LoadJob(load_id, schema, table, plan.columns, rule.null_values, plan.types)
        strategy = strategy_for(rule.mode, rule.backups)
        strategy.prepare(self.backend, job)
        sink = RejectSink(path.with_name(path.name + ".rejects.csv"))
        policy = RejectPolicy(rule, name, f"{schema}.{table}")
        progress = self.active[load_id]
        renew_every = self.settings.lease_seconds / 3
        renewed = time.monotonic()

        def reject(item: Reject) -> None:
            policy.take(sink, [item])
            progress.rejected = sink.count

        def advance(rows: int) -> None:
            """Between batches (and as a backend's fast path reads): stop when cancelled, keep the lease."""
            nonlocal renewed
            if self.cancel.is_set():
                raise LoadCancelled(f"load {load_id} cancelled")
            if self.backend.supports_leases and time.monotonic() - renewed > renew_every:
                self.state.renew([load_id])  # a long load keeps its lease
                renewed = time.monotonic()
            progress.rows += rows

        def batches(fmt: SourceFormat, careful: bool) -> Iterator[Any]:
            for batch in iter_batches(path, fmt, self.settings.batch_rows, shape=plan.shape, keep_raw=careful,
                                      name=name):
                advance(0)
                policy.take(sink, batch.rejects)
                progress.rows += len(batch.rows)
                progress.rejected = sink.count
                yield batch if careful else batch.rows

        def attempt(fmt: SourceFormat, careful: bool) -> int:
            """One try in one transaction; careful mode isolates rows the database refuses."""
            sink.reset()
            progress.rows = progress.rejected = 0
            insert = careful_inserter(self.backend, job.columns, load_id, job.null_values, reject) if careful else None
            together = self.backend.commits_with_state(schema)

            def mark_loaded(conn: Connection, loaded: int) -> None:
                sink.store(conn, load_id)
                archive = archive_path(rule.path, row.file_name, load_id, utcnow())
                self.state.transition(
                    conn, load_id, Status.LOADING, Status.LOADED, rows_read=loaded + sink.count,
                    rows_loaded=loaded, rows_rejected=sink.count, column_map=column_map, error=plan.note,
                    pending_move_to=str(archive), **self.state.finish_timing(conn, load_id),
                )

            with self.backend.transaction() as conn:
                rows: Iterable[Any] = batches(fmt, careful)
                if not careful and plan.shape is None:  # records load as read: a backend may read the file
                    rows = RowStream(rows, RawSource(path, fmt, advance))
                loaded = strategy.load(conn, self.backend, job, rows, insert)
                policy.finish(loaded, sink.count, sink.first)
                guard.check()
                if self.cancel.is_set():  # rows may still be on their way to the server: roll back
                    raise LoadCancelled(f"load {load_id} cancelled")
                if together:  # the data and the `loaded` state commit as one
                    mark_loaded(conn, loaded)
            if not together:  # the target's file commits apart: data first, so a crash in between
                with self.backend.transaction() as conn:  # leaves `loading` with committed rows (resumed)
                    mark_loaded(conn, loaded)
            return loaded

        try:
            loaded = load_file(attempt, fmt)
        finally:
            sink.close()
        log.info("loaded %s into %s.%s: %d rows, %d rejected (load %s)",
                 row.file_name, schema, table, loaded, sink.count, load_id)

    def _archive(self, load_id: int, path: Path, rule: FolderRule) -> None:
        """Move a loaded file to the archive recorded with its `loaded` transition."""
        row = self.state.get(load_id)
        assert row is not None
        if row.pending_move_to:
            self.finish_move(row)

    def _fail(self, load_id: int, path: Path, rule: FolderRule, message: str) -> None:
        """Mark the file failed, recording its move to `failed/` in the same transaction."""
        row = self.state.get(load_id)
        assert row is not None
        target = failed_path(rule.path, row.file_name, load_id) if path.exists() else None
        found = RejectSink.reopen(path.with_name(path.name + ".rejects.csv"))
        with self.backend.transaction() as conn:
            found.store(conn, load_id)  # records rejected before the failure stay on record
            self.state.transition(conn, load_id, Status.LOADING, Status.FAILED, error=message,
                                  rows_rejected=found.count, pending_move_to=str(target) if target else None,
                                  **self.state.finish_timing(conn, load_id))
        row = self.state.get(load_id)
        assert row is not None
        if row.pending_move_to:
            self.finish_move(row)

    @staticmethod
    def _write_error_note(row: Row, target: Path) -> None:
        """`<name>.error.txt` beside a failed file: what, where, when and why."""
        note = target.with_name(target.name + ".error.txt")
        if note.exists():
            return
        note.parent.mkdir(parents=True, exist_ok=True)
        failed_at = f"{row.finished_at:%Y-%m-%d %H:%M:%S} UTC" if row.finished_at else "unknown"
        note.write_text(
            f"file: {row.source_path}\nload id: {row.load_id}\ntarget: {row.target_schema}.{row.target_table}\n"
            f"failed at: {failed_at}\nerror: {row.error}\n",
            encoding="utf-8",
        )

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


__all__ = ["LoadCancelled", "Outcome", "Pipeline", "TransitionError", "is_transient"]
