"""Which lock a PostgreSQL session waits for, and who holds it: read from `pg_locks` and
`pg_stat_activity` with `pg_blocking_pids`, one line per waiting session."""

from __future__ import annotations

from sqlalchemy import Connection, text

from monitor.backends.probes import lock_wait_line

WAITS = text("""
SELECT w.pid,
       (SELECT string_agg(DISTINCT format('%I.%I', n.nspname, c.relname), ', ') FROM pg_locks l
         JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE l.pid = w.pid AND NOT l.granted),
       extract(epoch FROM now() - coalesce((SELECT min(l.waitstart) FROM pg_locks l
                                             WHERE l.pid = w.pid AND NOT l.granted), w.query_start)),
       b.pid, b.usename, nullif(b.application_name, ''), b.state,
       extract(epoch FROM now() - coalesce(b.xact_start, b.query_start)),
       left(b.query, 200)
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) WITH ORDINALITY AS blocker(pid, n)
JOIN pg_stat_activity b ON b.pid = blocker.pid
WHERE w.pid = ANY(:pids) AND w.wait_event_type = 'Lock'
ORDER BY w.pid, blocker.n
""")


def lock_waits(conn: Connection, sessions: list[str]) -> dict[str, str]:
    """For each of `sessions` (backend pids) waiting for a lock: the table, for how long, and
    the first session holding it (user, application, state, for how long, its statement)."""
    pids = [int(session) for session in sessions if session.isdigit()]
    if not pids:
        return {}
    found: dict[str, str] = {}
    for pid, tables, waited, holder, user, app, state, held, query in conn.execute(WAITS, {"pids": pids}):
        found.setdefault(str(pid), lock_wait_line(waited, tables, holder, user, app, state, held, query))
    return found
