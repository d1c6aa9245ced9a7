"""A file's persisted states and the moves between them (`monitor.load.state.machine` makes
them; the journal, the outcome and the moves read them)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class Status(StrEnum):
    """Persisted file states."""

    CLAIMED = "claimed"
    LOADING = "loading"
    LOADED = "loaded"
    DUPLICATE = "duplicate"
    FAILED = "failed"
    WAITING = "waiting"  # a part of a set, hashed and audited, waiting for the rest of its set
    SUPERSEDED = "superseded"  # a fullload older than the snapshot loaded now: not loaded


IN_FLIGHT = (Status.CLAIMED, Status.LOADING)
TERMINAL = (Status.LOADED, Status.DUPLICATE, Status.FAILED, Status.SUPERSEDED)
TRANSITIONS: dict[Status, set[Status]] = {
    Status.CLAIMED: {Status.LOADING, Status.FAILED, Status.WAITING, Status.DUPLICATE, Status.SUPERSEDED},
    Status.WAITING: {Status.LOADING, Status.FAILED, Status.SUPERSEDED},
    Status.LOADING: {Status.LOADED, Status.FAILED, Status.CLAIMED, Status.WAITING, Status.SUPERSEDED},
    Status.LOADED: set(),
    Status.DUPLICATE: set(),
    Status.FAILED: set(),
    Status.SUPERSEDED: set(),
}


class TransitionError(Exception):
    """The file was not in the expected state (another instance moved it on)."""


def utcnow() -> datetime:
    """Naive UTC: every timestamp the daemon writes is UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
