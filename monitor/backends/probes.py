"""What a backend can say about the database beyond loading: whether it lets this loader
write, which database it is whatever the URL's spelling, and which lock a load waits for.
These are the answers every backend gives by default (it cannot tell); a backend that can
tell overrides them."""

from __future__ import annotations

from typing import ClassVar, SupportsFloat

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


def lock_wait_line(waited: SupportsFloat | None, tables: str | None, holder: object, user: str | None, app: str | None,
                   state: str | None, held: SupportsFloat | None, statement: str | None) -> str:
    """One waiting session in one line: for how long, on which table, held by which session
    (who, which program, in what state and for how long, its statement's first 80 characters)."""
    what = f"a lock on {tables}" if tables else "a lock"
    who = ", ".join(part for part in (user, app, f"{state} for {float(held or 0):.0f} s" if state else None) if part)
    said = " ".join(str(statement or "").split())[:80]
    return (f"waiting {float(waited or 0):.0f} s for {what} held by session {holder} ({who})"
            + (f": {said}" if said else ""))
