"""Leases: how often a process renews the leases on the files it works on.

A lease (`ingest_files.lease_expires`) says how long a file is this instance's; another
instance may take a file over once its lease has expired. Renewing at a third of the
lease leaves two chances to renew before it runs out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

RENEWALS_PER_LEASE = 3


def renew_interval(lease_seconds: float) -> float:
    """Seconds between two renewals of a lease of `lease_seconds`."""
    return lease_seconds / RENEWALS_PER_LEASE


class Renewal:
    """Renews one load's lease as it goes: `tick()` renews when the interval has passed."""

    def __init__(self, renew: Callable[[], None], lease_seconds: float, *, enabled: bool = True) -> None:
        self._renew = renew
        self.interval = renew_interval(lease_seconds)
        self.enabled = enabled
        self._last = time.monotonic()

    def tick(self) -> None:
        """Renew if the interval has passed since the last renewal."""
        if self.enabled and time.monotonic() - self._last > self.interval:
            self._renew()
            self._last = time.monotonic()


@contextmanager
def renewing(renew: Callable[[], None], lease_seconds: float, *, enabled: bool = True) -> Iterator[None]:
    """Call `renew` every renewal interval in a thread while the block runs (a failed
    renewal is left to the load itself to report)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(renew_interval(lease_seconds)):
            with suppress(Exception):
                renew()

    thread = threading.Thread(target=loop, name="leases", daemon=True)
    if enabled:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
