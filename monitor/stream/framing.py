"""Framing: the stream's bytes cut into lines, each an event, a heartbeat or a malformed line.

The service sends one JSON object per line and a bare newline now and then (a heartbeat).
A line that is not a JSON object with `event.timepoint` (or is longer than the limit) is
malformed: counted, logged with its start, and skipped; the stream goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("monitor.stream")
SHOWN_CHARS = 120


@dataclass(frozen=True)
class Event:
    """One event of the stream: its position, kind, resource and the body as received."""

    timepoint: int
    event_type: str
    published_at: str
    resource_id: str
    resource_kind: str
    data: dict[str, Any]
    raw: str

    @classmethod
    def parse(cls, line: str) -> Event:
        """The event a line holds; ValueError says why a line is not one."""
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} at column {exc.colno}") from exc
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("timepoint"), int):
            raise ValueError("no event.timepoint")
        data = body.get("data")
        return cls(timepoint=int(event["timepoint"]), event_type=str(event.get("type") or ""),
                   published_at=str(event.get("published_at") or ""),
                   resource_id=str(body.get("resource_id") or ""), resource_kind=str(body.get("resource_kind") or ""),
                   data=data if isinstance(data, dict) else {}, raw=line)


@dataclass
class Framer:
    """Turns chunks of bytes into events; counts heartbeats and malformed lines."""

    max_line_bytes: int = 4 << 20
    heartbeats: int = 0
    malformed: int = 0
    bytes_seen: int = 0
    _pending: bytearray = field(default_factory=bytearray)
    _overlong: bool = False

    def feed(self, chunk: bytes) -> Iterator[Event]:
        """The complete events in `chunk` (with what earlier chunks left unfinished)."""
        self.bytes_seen += len(chunk)
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return
            piece = chunk[start:end]
            start = end + 1
            if self._overlong:
                self._overlong = False
                self._pending.clear()
                continue
            if self._pending:
                self._pending += piece
                piece, self._pending = bytes(self._pending), bytearray()
            event = self.line(piece)
            if event is not None:
                yield event

    def _keep(self, rest: bytes) -> None:
        if self._overlong:
            return
        self._pending += rest
        if len(self._pending) > self.max_line_bytes:
            self._bad(bytes(self._pending[:SHOWN_CHARS]), f"longer than {self.max_line_bytes} bytes")
            self._pending.clear()
            self._overlong = True

    def line(self, raw: bytes) -> Event | None:
        """One whole line: an event, or None for a heartbeat or a malformed line."""
        if len(raw) > self.max_line_bytes:
            self._bad(raw[:SHOWN_CHARS], f"longer than {self.max_line_bytes} bytes")
            return None
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            self.heartbeats += 1
            return None
        try:
            return Event.parse(text)
        except ValueError as exc:
            self._bad(raw[:SHOWN_CHARS], str(exc))
            return None

    def _bad(self, start: bytes, reason: str) -> None:
        self.malformed += 1
        log.warning("stream: malformed line skipped (%s; %d so far): %r", reason, self.malformed,
                    start.decode("utf-8", errors="replace")[:SHOWN_CHARS])

    def reset(self) -> None:
        """Forget a line left unfinished (the connection ended in the middle of it)."""
        self._pending.clear()
        self._overlong = False
