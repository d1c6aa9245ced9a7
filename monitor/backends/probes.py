"""What a backend can say about the database beyond loading: whether it lets this loader
write, and which database it is whatever the URL's spelling. These are the answers every
backend gives by default (it cannot tell); a backend that can tell overrides them."""

from __future__ import annotations

from typing import ClassVar


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
