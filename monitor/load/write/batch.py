"""A batch of records with an origin (a stream's) loaded through the same state and audit path
as a file: its claimed audit row goes `loading`, the rule's strategy writes the records into
the target through the backend's bulk path, and the load ends through `StateStore.end`
(`loaded` in the same transaction as the data where the backend allows, else `failed`).

What a file has and a batch has not: no format to read, no file to move, no careful mode (a
batch the database refuses fails whole, and its stream decides what to do with it).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from monitor.backends.target import Target
from monitor.config import FolderRule
from monitor.load.origin import Origin, RecordBatch
from monitor.load.read.naming import NameRules, normalise_header
from monitor.load.state.machine import Status, utcnow
from monitor.load.state.outcome import Outcome
from monitor.load.write.isolation import failure_message, is_transient
from monitor.load.write.run import RunContext
from monitor.load.write.strategies import LoadJob, strategy_for

log = logging.getLogger("monitor.pipeline")


def load_batch(ctx: RunContext, origin: Origin, rule: FolderRule, batch: RecordBatch) -> Outcome:
    """Load a claimed batch into its rule's target and end its load; its outcome. An error that
    may mean the database is gone goes up (the batch is in flight; recovery ends it)."""
    state, backend = ctx.state, ctx.backend
    record = state.get(origin.load_id)
    assert record is not None, "a batch is claimed before it loads"
    state.move(origin.load_id, Status.CLAIMED, Status.LOADING, started_at=utcnow())
    columns = normalise_header(batch.columns, NameRules.of(backend))
    job = LoadJob(origin.load_id, record.target_schema, record.target_table, columns, rule.null_values)
    strategy = strategy_for(rule.mode, rule.backups)
    together = backend.commits_with_state(record.target_schema)

    null = (rule.null_values or [""])[0]  # a missing value is written as the rule's null token

    def write(conn: Connection, target: Target) -> int:
        rows = [[null if value is None else value for value in values] for values in batch.records]
        return backend.bulk_insert(conn, target, [rows])

    def end(conn: Connection, loaded: int) -> None:
        counts: dict[str, Any] = {"rows_read": len(batch.records), "rows_loaded": loaded, "rows_rejected": 0,
                                  **strategy.audit_values()}
        state.end_in(conn, origin.load_id, Status.LOADING, Status.LOADED, **counts)

    try:
        strategy.prepare(backend, job)
        with backend.transaction() as conn:
            loaded = strategy.load(conn, backend, job, write)
            if together:
                end(conn, loaded)
        if not together:
            with backend.transaction() as conn:
                end(conn, loaded)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.error("%s (load %s): %s", origin.name, origin.load_id, exc)
        return state.end(origin.load_id, Status.LOADING, Status.FAILED, error=failure_message(exc, origin.name))
    return state.ended(origin.load_id)
