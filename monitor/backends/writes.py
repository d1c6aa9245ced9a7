"""Whether the database lets this loader write: the answers every backend gives by default
(it cannot tell); a backend that can tell overrides them."""

from __future__ import annotations


class WriteChecks:
    """A backend's write checks, for health and the circuit breaker."""

    def write_refusal(self, exc: BaseException) -> str | None:
        """A named cause when `exc` is the database refusing this loader's writes (read-only,
        permission denied); None for any other error, or when the backend cannot tell."""
        return None

    def write_problem(self) -> str | None:
        """Why the loader may not write now, named; None when it may (or it cannot tell)."""
        return None
