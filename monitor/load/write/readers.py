"""The fullload swap's wait for readers: each lock it needs is asked for with a short lock
timeout (the backend's `SwapForms.try_lock`), retried with backoff, so that readers never
queue behind the swap's lock request; past the rule's `swap_wait_seconds` the load fails
saying why. Whoever waits is told (the live progress, the audit row)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from monitor.backends.merging import Place
from monitor.backends.swap import SwapForms

log = logging.getLogger("monitor.swap")
DEFAULT_WAIT_SECONDS = 300.0
FIRST_BACKOFF, LONGEST_BACKOFF = 0.05, 1.0

# what a load is told while its swap waits: (message, since), (None, None) when it no longer waits
OnWait = Callable[[str | None, datetime | None], None]


class SwapWaitTooLong(Exception):
    """The swap waited longer than its rule allows for the readers of a table."""


@dataclass(frozen=True)
class SwapWait:
    """How long a swap may wait for readers, who is told while it waits, and what runs between
    tries (it raises to stop waiting: the daemon stops)."""

    limit_seconds: float = DEFAULT_WAIT_SECONDS
    on_wait: OnWait | None = None
    between_tries: Callable[[], None] | None = None


def utcnow() -> datetime:
    """Now in UTC, naive, as the daemon keeps its times."""
    return datetime.now(UTC).replace(tzinfo=None)


def wait_for_readers(forms: SwapForms, conn: Connection, place: Place, wait: SwapWait, *,
                     exclusive: bool = False) -> None:
    """Take the swap's lock on `place`, each try under a savepoint given up soon and retried
    with backoff; `SwapWaitTooLong` after `wait.limit_seconds`."""
    since: datetime | None = None
    delay = FIRST_BACKOFF
    what = f"{place.schema}.{place.table}"
    while True:
        savepoint = conn.begin_nested()
        try:
            forms.try_lock(conn, place.schema or "", place.table, exclusive=exclusive)
        except DBAPIError as exc:
            savepoint.rollback()
            if not forms.is_lock_wait(exc):
                raise
            now = utcnow()
            if since is None:
                since = now
                log.warning("the swap is waiting for readers of %s (the lock is asked for again and again, "
                            "so readers are never queued behind it)", what)
                if wait.on_wait:
                    wait.on_wait(f"waiting for readers of {what} since {since:%Y-%m-%d %H:%M:%S}Z", since)
            waited = (now - since).total_seconds()
            if waited >= wait.limit_seconds:
                raise SwapWaitTooLong(
                    f"waited {waited:.0f} s for readers of {what} (since {since:%Y-%m-%d %H:%M:%S}Z), longer than "
                    f"`swap_wait_seconds` ({wait.limit_seconds:g} s) allows: a reader holds it in an open "
                    "transaction; the target is unchanged") from exc
            if wait.between_tries:
                wait.between_tries()
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_BACKOFF)
            continue
        savepoint.commit()
        if since is not None:
            log.info("the swap has the lock on %s after waiting %.1f s for readers", what,
                     (utcnow() - since).total_seconds())
            if wait.on_wait:
                wait.on_wait(None, None)
        return
