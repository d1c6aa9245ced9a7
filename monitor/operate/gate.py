"""A circuit breaker for the database: loads wait while it is down, one probe at a time."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from monitor.operate.exits import said as brief

log = logging.getLogger("monitor.daemon")


class SchemaMissing(Exception):
    """The daemon's own tables are gone (the database was dropped and created again)."""


class WriteRefused(Exception):
    """The database answers but refuses this loader's writes (read-only, permission denied);
    the message names the cause. Loads wait, as for an outage, and it is checked again."""


def cause_of(exc: BaseException) -> str:
    """An outage's cause in one line: a refusal as named, else the driver's own error."""
    return str(exc) if isinstance(exc, WriteRefused) else brief(exc)


class DatabaseGate:
    """A circuit breaker for the database.

    After a connection failure the circuit opens: work waits while exactly one thread
    probes with a ping after an exponentially growing delay with jitter (half to all of
    `base * 2**n`, capped), so a database that is down is not hammered. The first
    successful probe closes the circuit and lets every waiting worker through.
    """

    def __init__(self, ping: Callable[[], None], base: float = 0.5, cap: float = 30.0) -> None:
        self._ping = ping
        self.base, self.cap = base, cap
        self.failures = 0
        self._up = True
        self._probing = False
        self._next_probe = 0.0
        self._down_since = 0.0
        self.cause: str | None = None  # why loads wait, while the circuit is open
        self.refused = False  # the database answers but refuses the loader's writes
        self._cond = threading.Condition()

    @property
    def up(self) -> bool:
        """False while the circuit is open."""
        return self._up

    def backoff(self, failures: int) -> float:
        """The delay before probe number `failures + 1`: exponential, capped, jittered."""
        delay = min(self.cap, self.base * 2 ** min(failures, 20))
        return random.uniform(delay / 2, delay)

    def failed(self, exc: BaseException) -> None:
        """Record a connection failure (opens the circuit; said once per outage)."""
        with self._cond:
            if not self._up:
                return
            self._up, self.failures = False, 0
            self._down_since = time.monotonic()
            self._next_probe = self._down_since + self.backoff(0)
            self.cause, self.refused = cause_of(exc), isinstance(exc, WriteRefused)
        if isinstance(exc, WriteRefused):
            log.error("loads paused: %s; checked again with backoff", exc)
        else:
            log.error("database unavailable (%s); loads paused, retrying with backoff", brief(exc))

    def wait_until_up(self, stop: threading.Event) -> bool:
        """Block until the database answers (True) or `stop` is set (False)."""
        while not stop.is_set():
            with self._cond:
                if self._up:
                    return True
                now = time.monotonic()
                if self._probing or now < self._next_probe:
                    self._cond.wait(timeout=min(1.0, max(0.05, self._next_probe - now)))
                    continue
                self._probing = True
            try:
                self._ping()
            except Exception as exc:  # the probe's failure is the answer: still down
                with self._cond:
                    self.failures += 1
                    delay = self.backoff(self.failures)
                    self._next_probe = time.monotonic() + delay
                    self._probing = False
                    self.cause, self.refused = cause_of(exc), isinstance(exc, WriteRefused)
                    self._cond.notify_all()
                log.warning("database still unavailable (%s); retry %d in %.1fs", self.cause, self.failures, delay)
            else:
                with self._cond:
                    self._up, self._probing, self.cause, self.refused = True, False, None, False
                    retries, self.failures = self.failures, 0
                    downtime = time.monotonic() - self._down_since
                    self._cond.notify_all()
                log.info("database available again after %.1fs (%d retries); resuming loads", downtime, retries)
                return True
        return False
