"""Logging: one line per event, plain for people or JSON for log shippers; no secrets.

Every line goes through `redact`, which hides passwords in URLs
(`scheme://user:***@host`) and in connection strings (`PWD=***;`, `password=***`).
A plain line is `2026-01-01 12:00:00 INFO monitor.daemon: message  key=value ...`; an
exception adds its type, message and innermost frame on the same line (the full traceback
is in the JSON form). A JSON line has `time`, `level`, `logger`, `message`, `thread`, any fields
passed as `extra=`, and `exception` with the whole traceback.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]+:)(?P<secret>[^@\s]+)(?P<tail>@)", re.I)
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*)(?P<secret>\{[^}]*\}|[^;,\s'\"&]+)",
    re.I,
)
_STANDARD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(message: str) -> str:
    """Hide passwords in URLs and connection strings."""
    message = _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", message)
    return _KEY_PASSWORD.sub(lambda m: f"{m['head']}***", message)


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields a line was given with `extra=` (load_id, file, target, rows, state, ...)."""
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD_FIELDS and not key.startswith("_")}


def _logfmt(value: object) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or any(c in text for c in ' "=') else text


def _one_line(text: str) -> str:
    return " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "thread": record.threadName,
        }
        for key, value in extra_fields(record).items():
            entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """`2026-01-01 12:00:00 INFO monitor.daemon: message`, one line, secrets redacted; the
    fields given with `extra=` follow as `key=value` (`load_id=7 file=x.csv state=loaded`)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            line = _one_line(super().format(record))
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)
            where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
            line += f" [{type(exc).__name__}: {_one_line(str(exc))}{where}]"
        extra = extra_fields(record)
        if str(extra.get("error")) in line:  # said in the message already
            extra.pop("error")
        if extra:
            line += "  " + " ".join(f"{key}={_logfmt(value)}" for key, value in extra.items())
        return redact(line)


def setup_logging(fmt: str = "plain", level: str = "INFO", log_file: str | Path | None = None, *,
                  file_lines: bool = True) -> None:
    """Configure the root logger once: to standard error, or to `log_file` (rotated at
    50 MB, 10 kept) where there is no console (a Windows service). `file_lines=False` leaves
    out the lines of each file's life (`detected` ... `ended`): a one-off command prints its
    own summary of them."""
    handler: logging.Handler
    if log_file is not None:
        handler = RotatingFileHandler(log_file, maxBytes=50 << 20, backupCount=10, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    if not file_lines:
        handler.addFilter(_not_a_file_line)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("watchdog").setLevel(logging.WARNING)
    inotify = logging.getLogger("watchdog.observers.inotify")
    if _stopping_race not in inotify.filters:
        inotify.addFilter(_stopping_race)


def _not_a_file_line(record: logging.LogRecord) -> bool:
    return not hasattr(record, "event")


def _stopping_race(record: logging.LogRecord) -> bool:
    """Drop watchdog's harmless complaint when an observer stops while an event is read."""
    return "called when the thread is inactive" not in str(record.msg)
