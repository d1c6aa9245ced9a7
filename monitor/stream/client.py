"""The HTTP side: one connection to the stream (httpx, asyncio), and how long to wait after
a failure (exponential backoff with full jitter, `Retry-After` honoured, a circuit breaker
that waits longer after failures in a row).

A connection ends with an exception that says how: `Refused` (an HTTP status: 401 the key,
416 the timepoint too old, 429 rate-limited, 5xx), `httpx.ReadTimeout` (no byte, event or
heartbeat, within the idle timeout), another `httpx` error (the network), or `Ended` (the
server closed the response, which the service never does on its own).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time

import httpx

from monitor.config import StreamSource
from monitor.stream.framing import Event, Framer


class Refused(Exception):
    """The server answered with an HTTP status other than 200."""

    def __init__(self, status: int, retry_after: float | None, body: str) -> None:
        super().__init__(f"HTTP {status}" + (f": {body}" if body else ""))
        self.status, self.retry_after = status, retry_after


class Ended(Exception):
    """The server closed the stream."""


def retry_after(value: str | None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time(), 0.0)
        except (TypeError, ValueError):
            return None


def timeouts(source: StreamSource) -> httpx.Timeout:
    """Connect within `connect_timeout`; a read waits `idle_timeout` for the next byte."""
    return httpx.Timeout(connect=source.connect_timeout, read=source.idle_timeout, write=source.connect_timeout,
                         pool=source.connect_timeout)


async def read_stream(client: httpx.AsyncClient, source: StreamSource, timepoint: int | None, framer: Framer,
                      on_event: Callable[[Event], Awaitable[None]], on_bytes: Callable[[], None]) -> None:
    """Read the stream from `timepoint` (None: from now), handing each event on in order."""
    params = {"timepoint": str(timepoint)} if timepoint is not None else {}
    framer.reset()
    async with client.stream("GET", source.url, params=params, auth=(source.api_key(), "")) as response:
        if response.status_code != 200:
            body = (await response.aread())[:200].decode("utf-8", errors="replace").strip()
            raise Refused(response.status_code, retry_after(response.headers.get("Retry-After")), body)
        on_bytes()
        async for chunk in response.aiter_bytes():
            on_bytes()
            for event in framer.feed(chunk):
                await on_event(event)
    raise Ended("the server closed the stream")


@dataclass
class Backoff:
    """Exponential backoff with full jitter, and a circuit breaker: after `breaker_failures`
    failures in a row the circuit opens and the next try waits `breaker_seconds`."""

    initial: float
    maximum: float
    breaker_failures: int
    breaker_seconds: float
    failures: int = 0

    @classmethod
    def of(cls, source: StreamSource) -> Backoff:
        """The backoff a stream's configuration asks for."""
        return cls(source.backoff_initial, source.backoff_max, source.breaker_failures, source.breaker_seconds)

    @property
    def open(self) -> bool:
        """True while the circuit is open (too many failures in a row)."""
        return self.failures >= self.breaker_failures

    def failed(self, at_least: float | None = None) -> float:
        """Count a failure; the seconds to wait before the next try."""
        self.failures += 1
        if self.open:
            wait = self.breaker_seconds
        else:
            wait = random.uniform(0, min(self.maximum, self.initial * 2 ** (self.failures - 1)))
        return max(wait, at_least or 0.0)

    def succeeded(self) -> None:
        """The stream delivered: the next failure starts from the initial wait again."""
        self.failures = 0
