"""Detection: watchdog observers feed candidates; a file is ready once it stops changing.

Observers (native inotify / ReadDirectoryChangesW, or polling for network shares)
only say "look at this path". `StabilityTracker` decides when a file is complete:
its size and mtime unchanged for `settle_seconds` and it opens for reading.
The tracker holds at most `max_candidates` small records; past that, new paths are
left in the folder and the next rescan (run early once the tracker drains) finds them,
so a burst of any size costs bounded memory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from monitor.config import FolderRule, Settings
from monitor.intake.rules import RuleBook

log = logging.getLogger("monitor.watcher")


@dataclass(slots=True)
class Candidate:
    """A file seen in a watched folder and not yet handed on."""

    path: Path
    rule: FolderRule
    size: int
    mtime_ns: int
    changed_at: float
    first_seen: float


class StabilityTracker:
    """Candidates and their last observed size and mtime (insertion order = first seen)."""

    def __init__(self, settle_seconds: float, max_candidates: int = 10_000) -> None:
        self.settle = settle_seconds
        self.max_candidates = max(1, max_candidates)
        self.overflowed = False
        self._candidates: dict[Path, Candidate] = {}
        self._not_files: set[Path] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, path: object) -> bool:
        return path in self._candidates

    def note_not_a_file(self, path: Path, rule: FolderRule) -> None:
        """Say once that an entry matching a rule is not a regular file (a directory named
        like a CSV file): it is never loaded and is left where it is."""
        with self._lock:
            if path in self._not_files:
                return
            self._not_files.add(path)
        log.warning("%s matches %s but is not a regular file; left where it is", path, rule.pattern)

    def offer(self, path: Path, rule: FolderRule, *, delay: float = 0.0) -> bool:
        """Note a path to watch (again); harmless when already known. False when it was
        not taken (gone, or the tracker is full: a later rescan offers it again).
        `delay` holds a new candidate back that much longer than the settle time."""
        try:
            info = path.stat()
        except OSError:
            self.forget(path)
            return False
        now = time.monotonic()
        with self._lock:
            known = self._candidates.get(path)
            if known is None:
                if len(self._candidates) >= self.max_candidates:
                    self.overflowed = True
                    return False
                self._candidates[path] = Candidate(path, rule, info.st_size, info.st_mtime_ns, now + delay, now)
            elif (known.size, known.mtime_ns) != (info.st_size, info.st_mtime_ns):
                known.size, known.mtime_ns, known.changed_at = info.st_size, info.st_mtime_ns, now
        return True

    def rehome(self, rule_for: Callable[[Path], FolderRule | None]) -> None:
        """Give each candidate the rule that takes it now; drop those no rule takes."""
        with self._lock:
            for path, candidate in list(self._candidates.items()):
                rule = rule_for(path)
                if rule is None:
                    del self._candidates[path]
                else:
                    candidate.rule = rule

    def forget(self, path: Path) -> None:
        """Stop tracking a path (handed on, or gone)."""
        with self._lock:
            self._candidates.pop(path, None)

    def ready(self, limit: int | None = None) -> list[Candidate]:
        """Up to `limit` candidates unchanged for the settle time that open for reading,
        oldest first. Only candidates whose settle time is up are looked at (a stat each)."""
        now = time.monotonic()
        found: list[Candidate] = []
        with self._lock:
            items = list(self._candidates.values())
        for candidate in items:
            if limit is not None and len(found) >= limit:
                break
            if now - candidate.changed_at < self.settle:
                continue
            try:
                info = candidate.path.stat()
            except OSError:
                self.forget(candidate.path)
                continue
            if (info.st_size, info.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
                candidate.size, candidate.mtime_ns, candidate.changed_at = info.st_size, info.st_mtime_ns, now
                continue
            if _opens(candidate.path):
                found.append(candidate)
        return found


def _entries(folder: Path, recursive: bool) -> Iterator[os.DirEntry[str]]:
    """The entries of a folder as they are read, then those of its subfolders when
    `recursive` (not hidden ones, not through links)."""
    subfolders = []
    with os.scandir(folder) as found:
        for entry in found:
            yield entry
            if recursive and not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
    for subfolder in subfolders:
        try:
            yield from _entries(subfolder, recursive)
        except OSError as exc:
            log.warning("cannot list %s: %s", subfolder, exc)


def _identity(folder: Path) -> tuple[int, int]:
    """A folder's device and inode (OSError when it is not there, or not a folder)."""
    info = folder.stat()
    if not folder.is_dir():
        raise NotADirectoryError(str(folder))
    return info.st_dev, info.st_ino


def _opens(path: Path) -> bool:
    """A file still held open for writing by a copier on Windows fails here."""
    if not path.is_file():
        return False
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


class _Handler(FileSystemEventHandler):
    def __init__(self, rules: RuleBook, tracker: StabilityTracker) -> None:
        self.rule_for = rules.watched
        self.tracker = tracker

    def _consider(self, raw: str | bytes) -> None:
        path = Path(os.fsdecode(raw))
        rule = self.rule_for(path)
        if rule is not None:
            self.tracker.offer(path, rule)

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._consider(event.src_path)
            return
        path = Path(os.fsdecode(event.src_path))
        rule = self.rule_for(path)
        if rule is not None:
            self.tracker.note_not_a_file(path, rule)

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._consider(event.src_path)

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._consider(event.src_path)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.tracker.forget(Path(os.fsdecode(event.src_path)))
            self._consider(event.dest_path)

    def on_deleted(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self.tracker.forget(Path(os.fsdecode(event.src_path)))


class FolderWatcher:
    """Runs one observer per distinct watched folder and rescans them periodically; an
    observer that died (its folder was removed, a share went away) is started again."""

    def __init__(self, settings: Settings, tracker: StabilityTracker) -> None:
        self.settings = settings
        self.tracker = tracker
        self.rules = RuleBook(settings)
        self.rule_for = self.rules.watched
        self._handler = _Handler(self.rules, tracker)
        self._by_folder: dict[tuple[Path, str], BaseObserver] = {}
        self._observers: list[BaseObserver] = []  # read by the status page
        self._identity: dict[tuple[Path, str], tuple[int, int]] = {}  # each folder as its observer found it

    def alive(self) -> bool:
        """True when every folder has a running observer."""
        return bool(self._observers) and all(observer.is_alive() for observer in self._observers)

    def start(self) -> None:
        """Create missing folders, start observers, and pick up files already there."""
        for rule in self.settings.folders:
            key = (rule.path.resolve(), rule.observer)
            if key not in self._by_folder:
                self._start_observer(key, rule)
        self.rescan()

    def _start_observer(self, key: tuple[Path, str], rule: FolderRule, *, create: bool = True) -> None:
        folder, kind = key
        try:
            if create:
                folder.mkdir(parents=True, exist_ok=True)
            self._identity[key] = _identity(folder)
        except OSError as exc:
            if create:
                log.error("cannot create watched folder %s: %s", folder, exc)
            return
        recursive = any(other.recursive for other in self.settings.folders if other.path.resolve() == folder)
        observer = self._make_observer(kind, rule.poll_interval)
        try:
            observer.schedule(self._handler, str(folder), recursive=recursive)
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit, or a share without change events
            log.warning("native watching of %s failed (%s); polling every %.1fs instead",
                        folder, exc, rule.poll_interval)
            observer = self._make_observer("polling", rule.poll_interval)
            try:
                observer.schedule(self._handler, str(folder), recursive=recursive)
                observer.start()
            except OSError as again:
                log.error("cannot watch %s: %s; trying again at the next rescan", folder, again)
                return
            kind = "polling"
        self._by_folder[key] = observer
        self._observers = list(self._by_folder.values())
        log.info("watching %s (%s%s)", folder, kind, ", with its subfolders" if recursive else "")

    @staticmethod
    def _make_observer(kind: str, poll_interval: float) -> BaseObserver:
        observer = PollingObserver(timeout=poll_interval) if kind == "polling" else Observer()
        observer.daemon = True
        return observer

    def reconfigure(self, settings: Settings) -> None:
        """Watch by new rules: observers of folders no longer watched stop, new folders'
        start; candidates are looked at again under the rule that now takes them."""
        self.settings = settings
        self.rules = RuleBook(settings)
        self.rule_for = self._handler.rule_for = self.rules.watched
        wanted = {(rule.path.resolve(), rule.observer) for rule in settings.folders}
        for key in [key for key in self._by_folder if key not in wanted]:
            observer = self._by_folder.pop(key)
            observer.stop()
            log.info("no longer watching %s", key[0])
        self._observers = list(self._by_folder.values())
        self.tracker.settle = settings.settle_seconds
        self.tracker.rehome(self.rule_for)
        self.check()
        self.rescan()

    def check(self) -> None:
        """Start again any observer whose thread died."""
        for rule in self.settings.folders:
            key = (rule.path.resolve(), rule.observer)
            observer = self._by_folder.get(key)
            try:
                moved = observer is not None and _identity(key[0]) != self._identity.get(key)
            except OSError:  # gone (a share unmounted, a folder removed): watched again once back
                continue
            if moved and observer is not None:  # removed and made again: the old watch sees nothing
                log.warning("%s was made again; watching the new folder", key[0])
                observer.stop()
            elif observer is not None and not observer.is_alive():
                log.warning("the observer of %s stopped; starting it again", key[0])
            if observer is None or moved or not observer.is_alive():
                self._by_folder.pop(key, None)
                self._start_observer(key, rule, create=False)

    def rescan(self) -> int:
        """Offer every matching file in every watched folder (catches missed events and
        files left out while the tracker was full); returns how many were offered."""
        self.tracker.overflowed = False
        offered = 0
        for rule in self.settings.folders:
            folder = rule.path.resolve()
            try:
                found, full = self._rescan_folder(folder, rule)
            except OSError as exc:
                log.warning("cannot list %s: %s", folder, exc)
                continue
            offered += found
            if full:
                return offered
        return offered

    def _rescan_folder(self, folder: Path, rule: FolderRule) -> tuple[int, bool]:
        """Offer one rule's files; (how many, whether the tracker filled up)."""
        offered = 0
        for entry in _entries(folder, rule.recursive):
            path = Path(entry.path)
            if path in self.tracker:
                continue
            try:
                is_file = entry.is_file()
            except OSError:
                continue
            if is_file and self.rule_for(path) is rule:
                if not self.tracker.offer(path, rule) and self.tracker.overflowed:
                    return offered, True
                offered += 1
            elif not is_file and not rule.recursive and self.rule_for(path) is rule:
                self.tracker.note_not_a_file(path, rule)
        return offered, False

    def stop(self) -> None:
        """Stop every observer."""
        for observer in self._observers:
            observer.stop()
        for observer in self._observers:
            if observer.is_alive():
                observer.join(timeout=5)
