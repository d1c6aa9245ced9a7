"""The side tables bulk copy and `bcp` fill (`<table>__bulk_<load_id>`): committed on
connections of their own, so a load that fails drops them itself, each on a connection of its
own, waiting briefly at most; a load's transaction that commits has dropped them already."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine, event

from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.backends.mssql.statements import qualified

log = logging.getLogger("monitor.backends.mssql")
CLEANUP_LOCK_MS = 10_000  # dropping a side table never waits long (it is ours alone)


class SideTables:
    """The side tables of each load's transaction still open, by its connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: dict[int, list[tuple[str | None, str]]] = {}
        self._lock = threading.Lock()
        event.listen(engine, "commit", self._on_commit)

    def register(self, conn: Connection, schema: str | None, table: str) -> None:
        """A side table `conn`'s transaction will drop (or its failure will)."""
        with self._lock:
            self._pending.setdefault(id(conn), []).append((schema, table))

    def _on_commit(self, conn: Connection) -> None:
        """The transaction that dropped its side tables committed: nothing left to clean."""
        with self._lock:
            self._pending.pop(id(conn), None)

    def drop_left_by(self, conn: Connection) -> None:
        """Drop the side tables of `conn`'s failed transaction."""
        with self._lock:
            pending = self._pending.pop(id(conn), [])
        for schema, table in pending:
            self.drop(schema, table)

    def drop(self, schema: str | None, table: str) -> None:
        """Drop a committed side table on a connection of its own, waiting briefly at most."""
        try:
            with self.engine.connect() as side:
                side.exec_driver_sql(S.lock_timeout(CLEANUP_LOCK_MS))
                try:
                    side.exec_driver_sql(S.drop_table(schema, table, if_exists=True))
                    side.commit()
                finally:
                    side.exec_driver_sql(S.lock_timeout(-1))
        except Exception as exc:
            log.warning("could not drop side table %s: %s", qualified(schema, table), exc)
