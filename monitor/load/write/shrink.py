"""The shrink guard: a new snapshot much smaller than the table it would replace is not
swapped in (a truncated export, a wrong file under the right name, one part of a set).

Decided inside the load's transaction, under the target's lock, just before the swap, from
the rows staged: fewer than the rule's `min_row_share` of the rows the target holds now,
and the load fails with both counts in its reason (`status`, the page and
`ingest_shrink_refused{target}` show it). `retry LOAD_ID --allow-shrink` loads it anyway;
so does a `replay`, which loads an archived snapshot on purpose (as it skips "newest wins").
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from monitor.backends import Backend
from monitor.load.read.policies import PolicyError

SHRINK_MARK = "the shrink guard"  # in every refusal's reason: how the audit trail finds them


class ShrinkRefused(PolicyError):
    """The staged snapshot is too small to replace the target; the message has the counts."""


def table_rows(conn: Connection, backend: Backend, schema: str, table: str) -> int | None:
    """The rows `schema.table` holds now (None: there is no such table)."""
    if not backend.table_exists(conn, schema, table):
        return None
    return int(conn.execute(text(f"SELECT COUNT(*) FROM {backend.qualified(schema, table)}")).scalar_one())


def shrink_reason(conn: Connection, backend: Backend, schema: str, table: str, staged: int,
                  share: float) -> tuple[str, int] | None:
    """Why `staged` rows must not replace `schema.table` now, and its rows (None: they may)."""
    if share <= 0:
        return None
    current = table_rows(conn, backend, schema, table)
    if not current or staged >= share * current:
        return None
    return (f"{SHRINK_MARK}: the new snapshot has {staged:,} rows, {staged / current:.1%} of the {current:,} rows "
            f"{schema}.{table} holds now (below min_row_share {share:g}): not swapped in, the table is unchanged "
            f"(`ingest-monitor retry LOAD_ID --allow-shrink` loads it on purpose)"), current


def on_purpose(allow_shrink: bool, replay_of: int | None) -> str | None:
    """Why a load may shrink its target on purpose: an operator's `--allow-shrink`, or a replay."""
    if allow_shrink:
        return "--allow-shrink"
    return f"a replay of load {replay_of}" if replay_of is not None else None


def check_shrink(conn: Connection, backend: Backend, schema: str, table: str, staged: int, share: float,
                 allowed: str | None) -> str | None:
    """Raise `ShrinkRefused` when `staged` rows would shrink the target below `share` of it;
    `allowed` (why it is on purpose), and it loads with a note that says so."""
    if staged == 0:  # no rows at all: the empty-table guard refuses it, saying why (header only, all rejected)
        return None
    found = shrink_reason(conn, backend, schema, table, staged, share)
    if found is None:
        return None
    reason, current = found
    if not allowed:
        raise ShrinkRefused(reason)
    return f"loaded past {SHRINK_MARK} on purpose ({allowed}): {staged:,} rows replaced {current:,}"
