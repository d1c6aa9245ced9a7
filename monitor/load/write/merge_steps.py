"""The steps of a merge, the same on every database, over each backend's primitives
(`Backend.create_index`, `create_table_of`, `merge_statements`, ...): making a target ready,
planning one merge, applying a staged file (see `monitor.backends.merging`), and reading back
what a merge recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Connection, insert, select
from sqlalchemy.schema import CreateTable

from monitor import catalog
from monitor.backends import Backend
from monitor.backends.merging import MergeCounts, MergePlan, Place, history_index_name, key_index_name, sample
from monitor.catalog import LOAD_ID_COLUMN, MERGES_TABLE, REPLACED_AT_COLUMN, REPLACED_BY_COLUMN, merges_table


def prepare(backend: Backend, conn: Connection, target: Place, keys: list[str]) -> None:
    """Make an existing merge target ready, inside the caller's transaction (the target
    locked): the unique index on its key, its history table with every column it has (plus
    the replacing load and time), and the `ingest_merges` record beside it."""
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
    if not backend.table_exists(conn, target.schema, MERGES_TABLE):
        conn.execute(CreateTable(merges_table(target.schema)))


def plan(backend: Backend, conn: Connection, target: Place, keys: list[str], columns: list[str],
         load_id: int) -> MergePlan:
    """The plan of one merge into a prepared target."""
    kept = [name for name in backend.columns_of(conn, target.schema, target.table) if name != LOAD_ID_COLUMN]
    return MergePlan(target, backend.staging_of(target.schema, target.table, load_id),
                     backend.history_of(target.schema, target.table), list(keys), list(columns), kept, load_id)


def has_empty_keys(backend: Backend, conn: Connection, plan: MergePlan) -> bool:
    """True when a staged row's key is empty (rows staged from the file as it is)."""
    return bool(backend.run_sql(conn, backend.merge_statements(conn, plan).empty_keys(), fetch=True))


def apply(backend: Backend, conn: Connection, plan: MergePlan, staged: int) -> MergeCounts:
    """Apply `staged` rows of the staging table to the target inside `conn`'s transaction: the
    last row of a key wins, the replaced versions go to history, matching keys are updated, new
    keys inserted; the staging table is dropped and the merge recorded in `ingest_merges`."""
    backend.hold_staged_values(conn, plan)
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
