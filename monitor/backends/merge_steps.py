"""The steps of a merge that every backend takes the same way, over its own dialect's hooks
(`Backend.create_index`, `create_table_of`, `merge_statements`, ...): making a target ready,
applying a staged file, and reading back what a merge recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Connection, insert, select
from sqlalchemy.schema import CreateTable

from monitor import catalog
from monitor.backends.merging import MergeCounts, MergePlan, Place, history_index_name, key_index_name, sample
from monitor.catalog import MERGES_TABLE, REPLACED_AT_COLUMN, REPLACED_BY_COLUMN, merges_table

if TYPE_CHECKING:
    from monitor.backends.base import Backend


def prepare(backend: Backend, conn: Connection, target: Place, keys: list[str]) -> None:
    """The unique key index, the history table (or its missing columns), `ingest_merges`."""
    if not backend.has_index(conn, target, key_index_name(target.table)):
        backend.create_index(conn, target, key_index_name(target.table), keys, unique=True)
    history = backend.history_of(target.schema, target.table)
    columns = backend.column_definitions(conn, target.schema, target.table)
    if not backend.table_exists(conn, history.schema, history.table):
        backend.create_table_of(conn, history, [*columns, (REPLACED_BY_COLUMN, BigInteger()),
                                                (REPLACED_AT_COLUMN, catalog.Timestamp)])
        backend.create_index(conn, history, history_index_name(target.table), keys, unique=False)
    else:
        present = set(backend.columns_of(conn, history.schema, history.table))
        for name, type_ in columns:
            if name not in present:
                backend.add_typed_column(conn, history, name, type_)
    backend.lock_target(conn, target.schema, MERGES_TABLE)  # the first merges of two targets at once
    if not backend.table_exists(conn, target.schema, MERGES_TABLE):
        conn.execute(CreateTable(merges_table(target.schema)))


def apply(backend: Backend, conn: Connection, plan: MergePlan, staged: int) -> MergeCounts:
    """Supersede, keep history, update, insert, drop the staging table, record the merge."""
    sql = backend.merge_statements(conn, plan)
    backend.index_staging(conn, plan)
    keys = sample(backend.run_sql(conn, sql.superseded_keys(), fetch=True))
    superseded = backend.run_sql(conn, sql.drop_superseded()) if keys else 0
    backend.run_sql(conn, sql.keep_history())
    updated = backend.run_sql(conn, sql.update())
    inserted = backend.run_sql(conn, sql.insert())
    backend.drop_staging(conn, plan.staging)
    counts = MergeCounts(inserted, updated, staged - superseded - updated - inserted, superseded, keys)
    conn.execute(insert(merges_table(plan.target.schema)).values(
        load_id=plan.load_id, target_table=plan.target.table, rows_inserted=inserted, rows_updated=updated,
        rows_unchanged=counts.unchanged, rows_superseded=superseded,
        merged_at=datetime.now(UTC).replace(tzinfo=None)))
    return counts


def recorded(backend: Backend, conn: Connection, target: Place, load_id: int) -> MergeCounts | None:
    """The counts `ingest_merges` holds for a load (None: its merge never committed)."""
    if not backend.table_exists(conn, target.schema, MERGES_TABLE):
        return None
    record = merges_table(target.schema)
    row = conn.execute(select(record).where(record.c.load_id == load_id)).first()
    if row is None:
        return None
    return MergeCounts(row.rows_inserted, row.rows_updated, row.rows_unchanged, row.rows_superseded)
