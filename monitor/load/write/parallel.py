"""One committed staging table filled over several connections at once, then one swap.

Shared by a snapshot set's parts (`set_run`) and one large fullload file split at record
boundaries (`run`), on a backend that declares `fills_in_parallel`. The staging table is
created and committed first (nobody reads it until the swap); `fill` writes it over
connections of its own, each in its own transaction; then one transaction runs `swap`
(the staging table takes the target's place, the file or set marked `loaded`). A staging
table left by a crash has the same name when the load runs again, and is dropped first;
on any failure it is dropped before the error goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import TypeVar

from sqlalchemy import Connection

from monitor.backends import Backend

T = TypeVar("T")


def fill_then_swap(backend: Backend, schema: str, staging: str, columns: list[str], types: Mapping[str, str],
                   fill: Callable[[], T], swap: Callable[[Connection, T], None]) -> T:
    """Create and commit `staging` (dropping one a crash left), `fill()` it, then `swap` in one
    transaction; `fill`'s answer. The staging table is dropped when anything fails."""
    with backend.transaction() as conn:
        backend.drop_table(conn, schema, staging)
        backend.create_table(conn, schema, staging, columns, types)
        backend.share_for_filling(conn, schema, staging)
    try:
        filled = fill()
        with backend.transaction() as conn:
            swap(conn, filled)
        return filled
    except BaseException:
        with suppress(Exception), backend.transaction() as conn:
            backend.drop_table(conn, schema, staging)
        raise
