"""Detection: watchdog observers feed candidates; a file is ready once it stops changing.

Observers (native inotify / ReadDirectoryChangesW, or polling for network shares)
only say "look at this path". `StabilityTracker` decides when a file is complete:
its size and mtime unchanged for `settle_seconds` and it opens for reading.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from monitor.config import FolderRule, Settings, is_ignored_name

log = logging.getLogger("monitor.watcher")


@dataclass
class Candidate:
    """A file seen in a watched folder and not yet handed on."""

    path: Path
    rule: FolderRule
    size: int
    mtime_ns: int
    changed_at: float
    first_seen: float


def rule_for_path(settings: Settings, path: Path) -> FolderRule | None:
    """The rule whose folder holds `path` and whose pattern matches it, if any."""
    if is_ignored_name(path.name):
        return None
    parent = path.parent.resolve()
    for rule in settings.folders:
        if rule.path.resolve() == parent and rule.matches(path.name):
            return rule
    return None


class StabilityTracker:
    """Candidates and their last observed size and mtime."""

    def __init__(self, settle_seconds: float) -> None:
        self.settle = settle_seconds
        self._candidates: dict[Path, Candidate] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._candidates)

    def offer(self, path: Path, rule: FolderRule) -> None:
        """Note a path to watch (again); harmless when already known."""
        try:
            info = path.stat()
        except OSError:
            return
        now = time.monotonic()
        with self._lock:
            known = self._candidates.get(path)
            if known is None:
                self._candidates[path] = Candidate(path, rule, info.st_size, info.st_mtime_ns, now, now)
            elif (known.size, known.mtime_ns) != (info.st_size, info.st_mtime_ns):
                known.size, known.mtime_ns, known.changed_at = info.st_size, info.st_mtime_ns, now

    def forget(self, path: Path) -> None:
        """Stop tracking a path (handed on, or gone)."""
        with self._lock:
            self._candidates.pop(path, None)

    def ready(self) -> list[Candidate]:
        """Candidates unchanged for the settle time that open for reading, oldest first."""
        now = time.monotonic()
        found: list[Candidate] = []
        with self._lock:
            items = list(self._candidates.values())
        for candidate in items:
            try:
                info = candidate.path.stat()
            except OSError:
                self.forget(candidate.path)
                continue
            if (info.st_size, info.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
                candidate.size, candidate.mtime_ns, candidate.changed_at = info.st_size, info.st_mtime_ns, now
                continue
            if now - candidate.changed_at >= self.settle and _opens(candidate.path):
                found.append(candidate)
        return sorted(found, key=lambda c: (c.first_seen, c.path.name))


def _opens(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False


class _Handler(FileSystemEventHandler):
    def __init__(self, settings: Settings, tracker: StabilityTracker) -> None:
        self.settings = settings
        self.tracker = tracker

    def _consider(self, raw: str | bytes) -> None:
        path = Path(os.fsdecode(raw))
        rule = rule_for_path(self.settings, path)
        if rule is not None:
            self.tracker.offer(path, rule)

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._consider(event.src_path)

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._consider(event.src_path)

    def on_closed(self, event: FileSystemEvent) -> None:
        self._consider(event.src_path)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._consider(event.dest_path)


class FolderWatcher:
    """Runs one observer per distinct watched folder and rescans them periodically."""

    def __init__(self, settings: Settings, tracker: StabilityTracker) -> None:
        self.settings = settings
        self.tracker = tracker
        self._observers: list = []

    def start(self) -> None:
        """Create missing folders, start observers, and pick up files already there."""
        handler = _Handler(self.settings, self.tracker)
        seen: set[tuple[Path, str]] = set()
        for rule in self.settings.folders:
            folder = rule.path.resolve()
            folder.mkdir(parents=True, exist_ok=True)
            key = (folder, rule.observer)
            if key in seen:
                continue
            seen.add(key)
            observer = PollingObserver(timeout=rule.poll_interval) if rule.observer == "polling" else Observer()
            observer.schedule(handler, str(folder), recursive=False)
            observer.daemon = True
            observer.start()
            self._observers.append(observer)
            log.info("watching %s (%s)", folder, rule.observer)
        self.rescan()

    def rescan(self) -> None:
        """Offer every matching file in every watched folder (catches missed events)."""
        for rule in self.settings.folders:
            folder = rule.path.resolve()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                log.warning("cannot list %s: %s", folder, exc)
                continue
            for entry in entries:
                path = Path(entry.path)
                if entry.is_file() and rule_for_path(self.settings, path) is rule:
                    self.tracker.offer(path, rule)

    def stop(self) -> None:
        """Stop every observer."""
        for observer in self._observers:
            observer.stop()
        for observer in self._observers:
            observer.join(timeout=5)
