"""Which lock a SQL Server session waits for, and who holds it, one line per waiting
session: on SQL Server from `sys.dm_exec_requests` (the blocking session),
`sys.dm_tran_locks` (the table) and `sys.dm_exec_sessions` (who holds it); on Babelfish,
which has none of the first two, from the PostgreSQL catalogs it runs on (`@@SPID` is the
backend's process id there), the schema named as T-SQL names it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine

from monitor.backends.probes import lock_wait_line

SPID = "monitor.spid"  # where a pooled connection keeps its session id

SQL_SERVER = """
SELECT r.session_id, r.wait_time / 1000.0,
       (SELECT TOP 1 OBJECT_SCHEMA_NAME(l.resource_associated_entity_id, l.resource_database_id) + '.'
               + OBJECT_NAME(l.resource_associated_entity_id, l.resource_database_id)
          FROM sys.dm_tran_locks l
         WHERE l.request_session_id = r.session_id AND l.request_status = 'WAIT' AND l.resource_type = 'OBJECT'),
       b.session_id, b.login_name, NULLIF(b.program_name, ''), b.status,
       DATEDIFF(second, b.last_request_start_time, SYSDATETIME()),
       (SELECT LEFT(t.text, 200)
          FROM sys.dm_exec_connections c CROSS APPLY sys.dm_exec_sql_text(c.most_recent_sql_handle) t
         WHERE c.session_id = b.session_id)
FROM sys.dm_exec_requests r
JOIN sys.dm_exec_sessions b ON b.session_id = r.blocking_session_id
WHERE r.blocking_session_id <> 0 AND r.session_id IN ({sessions})
"""

BABELFISH = """
SELECT w.pid, DATEDIFF(second, w.waitstart, SYSDATETIME()),
       CASE WHEN n.nspname LIKE DB_NAME() + '[_]%' THEN SUBSTRING(n.nspname, LEN(DB_NAME()) + 2, 128)
            ELSE n.nspname END + '.' + c.relname,
       h.pid, s.usename, NULLIF(s.application_name, ''), s.state,
       DATEDIFF(second, COALESCE(s.xact_start, s.query_start), SYSDATETIME()), LEFT(s.query, 200)
FROM pg_catalog.pg_locks w
JOIN pg_catalog.pg_locks h ON h.relation = w.relation AND h.granted = 'true' AND h.pid <> w.pid
JOIN pg_catalog.pg_class c ON c.oid = w.relation
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_stat_activity s ON s.pid = h.pid
WHERE w.granted = 'false' AND w.pid IN ({sessions})
ORDER BY w.pid, h.pid
"""


def session_of(conn: Connection) -> str:
    """The server's id of `conn`'s session (`@@SPID`), asked once per pooled connection (a
    reset between uses keeps the session)."""
    info = conn.connection.info
    if SPID not in info:
        info[SPID] = str(conn.exec_driver_sql("SELECT @@SPID").scalar())
    return str(info[SPID])


def lock_waits(engine: Engine, sessions: list[str], is_babelfish: Callable[[Connection], bool]) -> dict[str, str]:
    """For each of `sessions` (session ids) blocked by another: the table, for how long, and
    the first session holding it (login, program, status and for how long, its statement)."""
    ids = [int(session) for session in sessions if session.isdigit()]
    if not ids:
        return {}
    found: dict[str, str] = {}
    with engine.connect() as conn:
        sql = (BABELFISH if is_babelfish(conn) else SQL_SERVER).format(sessions=", ".join(str(i) for i in ids))
        rows = conn.exec_driver_sql(sql).all()
    for sid, waited, table, holder, login, program, status, held, query in rows:
        found.setdefault(str(sid), lock_wait_line(waited, table, holder, login, program, status, held, query))
    return found
