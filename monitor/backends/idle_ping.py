"""Ping a pooled connection before it is used only when it sat idle a while.

SQLAlchemy's `pool_pre_ping` costs a round trip on every checkout, and a file takes
several. A connection handed back moments ago was answering then; one idle longer than
`IDLE_PING_SECONDS` (or never used) is pinged first, and one that does not answer is
replaced, as `pool_pre_ping` would (the pool's `DisconnectionError`: a new connection).
An error on a connection that went bad within that window invalidates the pool as before
(the pipeline tells an outage from a refusal by a ping: `Pipeline.database_answers`).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

IDLE_PING_SECONDS = 2.0
_BACK = "monitor.checked_in"  # when the connection was last handed back (monotonic seconds)


def ping_when_idle(engine: Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """Ping on checkout a connection idle for `idle_seconds` or more (`engine`'s pool)."""
    dialect = engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_BACK] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        back = record.info.get(_BACK)
        if back is not None and time.monotonic() - back < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # no answer: the pool replaces the connection
            raise DisconnectionError(f"a pooled connection did not answer its ping: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)
