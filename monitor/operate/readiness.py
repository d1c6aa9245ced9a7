"""Whether files can load, cause by cause: every watched folder there and readable, the
folder observers running, the database answering with the daemon's tables and letting the
loader write. `/health`, `/metrics`, the status page and the log all name the same causes;
the log says each folder's once when it starts and once when it ends (the database's are
said by the circuit breaker, `monitor.operate.gate`)."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

from monitor.config import Settings

log = logging.getLogger("monitor.daemon")
CHECK_SECONDS = 2.0  # how often the folders are looked at for the log's start and end lines


def folder_problem(folder: Path) -> str | None:
    """Why files in `folder` cannot be seen or read (None when they can)."""
    try:
        info = folder.stat()
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if not os.access(folder, os.R_OK | os.X_OK):
        return "is not readable by this user"
    try:
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as exc:
        return f"cannot be listed ({exc.strerror or exc})"
    return None


def folder_problems(settings: Settings) -> dict[str, str | None]:
    """Each watched folder (resolved, once) and why it cannot be read, or None."""
    folders = dict.fromkeys(str(rule.path.resolve()) for rule in settings.folders)
    return {folder: folder_problem(Path(folder)) for folder in folders}


def folder_causes(problems: dict[str, str | None]) -> list[str]:
    """The folder problems as causes, one line each."""
    return [f"watched folder {folder} {why}: files there cannot load" for folder, why in problems.items() if why]


class FolderLog:
    """Says in the log once when a watched folder stops being readable and once when it is back."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._said: dict[str, str] = {}
        self._next = 0.0

    def tick(self, settings: Settings) -> None:
        """Look at the folders (at most every CHECK_SECONDS) and log what changed."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + CHECK_SECONDS
        problems = folder_problems(settings)
        for folder, why in problems.items():
            if why and self._said.get(folder) != why:
                log.error("watched folder %s %s: files there cannot load until it is back", folder, why)
                self._said[folder] = why
            elif not why and folder in self._said:
                log.info("watched folder %s is back (it %s before); watching it again", folder,
                         self._said.pop(folder))
        for folder in set(self._said) - set(problems):  # no longer watched (a reload)
            self._said.pop(folder)
