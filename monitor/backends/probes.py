"""What a backend can say about the database beyond loading: whether it lets this loader
write, which database it is whatever the URL's spelling, and which lock a load waits for.
These are the answers every backend gives by default (it cannot tell); a backend that can
tell overrides them."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Connection


class Probes:
    """A backend's probes, for health, the circuit breaker and the instance lock."""

    default_port: ClassVar[int | None] = None  # the port a URL without one means

    def write_refusal(self, exc: BaseException) -> str | None:
        """A named cause when `exc` is the database refusing this loader's writes (read-only,
        permission denied); None for any other error, or when the backend cannot tell."""
        return None

    def write_problem(self) -> str | None:
        """Why the loader may not write now, named; None when it may (or it cannot tell)."""
        return None

    def identity(self) -> str | None:
        """The database itself, as the server names it (the same for every URL that reaches
        it); None when the backend cannot tell."""
        return None

    def session_of(self, conn: Connection) -> str | None:
        """The server's id of `conn`'s session (to find the lock it waits for); None when the
        backend cannot tell."""
        return None

    def lock_waits(self, sessions: list[str]) -> dict[str, str]:
        """For each of `sessions` waiting for a lock now: one line naming the table, since when,
        and the session holding it (who, what, since when). Empty when none waits or the
        backend cannot tell."""
        return {}
