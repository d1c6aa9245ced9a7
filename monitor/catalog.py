"""The daemon's own tables: one audit/state row per file, its transitions, its rejects, the
snapshot sets that tie the parts of one snapshot together; and the names it gives the
schemas and the lineage column of the tables it loads.

Defined once with SQLAlchemy Core; every backend creates them from here and
`sql/<dialect>/schema.sql` is generated from here (`ingest-monitor ddl`).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Unicode,
    UnicodeText,
    text,
)
from sqlalchemy.dialects import mssql

REF_SCHEMA = "ref"  # reference tables a fullload replaces
BKP_SCHEMA = "bkp"  # the versions they replaced
LOAD_ID_COLUMN = "_load_id"  # on every loaded row: the load (audit row) that wrote it

# A blank key: nothing but white space, where white space is every character Python's
# `str.isspace()` calls a space (29 of them, the no-break space U+00A0 and the figure space
# U+2007 among them; the last is U+3000), or a configured null value. The reader and each
# database's check of staged keys use this one set (`monitor.backends.merging`).
BLANK_CHARS = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())


def is_blank_key(value: str, nulls: frozenset[str] | set[str] | list[str]) -> bool:
    """Whether a key value counts as empty: a configured null value, or only white space."""
    return value in nulls or not value.strip(BLANK_CHARS)


def split_target(target: str) -> tuple[str | None, str]:
    """A target as an operator writes it, `schema.table` or `table`: (its schema or None, its
    table). The one reading of a target for every command; a table name holds no dot (the
    configuration refuses one), so the first dot is the schema's."""
    schema, dot, table = target.partition(".")
    return (schema, table) if dot else (None, target)


def same_target(written: str, known: str) -> bool:
    """Whether `written` (`table` or `schema.table`) names the target `known` (`schema.table`)."""
    schema, table = split_target(written)
    known_schema, known_table = split_target(known)
    return table == known_table and schema in (None, known_schema)
# A merge target's history table (`bkp.<table>__history`): each row a version a merge replaced,
# with the load that wrote it (`_load_id`), the load that replaced it and when.
HISTORY_SUFFIX = "__history"
REPLACED_BY_COLUMN = "_replaced_by"
REPLACED_AT_COLUMN = "_replaced_at"

# Bumped whenever a table gains a column or a view changes: a daemon that finds an older
# version adds the missing columns and recreates the views (`monitor.load.setup.init_db`).
SCHEMA_VERSION = 3

metadata = MetaData()

# SQLite gives an auto-increment rowid only to INTEGER PRIMARY KEY columns.
Id = BigInteger().with_variant(Integer(), "sqlite")
# UTC timestamps; DATETIME2 on SQL Server (DATETIME rounds to 3 ms).
Timestamp = DateTime().with_variant(mssql.DATETIME2(), "mssql")
String = Unicode
Text = UnicodeText().with_variant(mssql.NVARCHAR(), "mssql")  # NVARCHAR(max), not NTEXT

IN_FLIGHT_OR_LOADED = "status IN ('claimed', 'loading', 'loaded') AND replay_of IS NULL"

files = Table(
    "ingest_files",
    metadata,
    Column("load_id", Id, primary_key=True, autoincrement=True),
    Column("file_name", String(400), nullable=False),
    Column("source_path", String(2000), nullable=False),
    Column("current_path", String(2000)),
    Column("pending_move_to", String(2000)),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("target_schema", String(128), nullable=False),
    Column("target_table", String(128), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows_read", BigInteger),
    Column("rows_loaded", BigInteger),
    Column("rows_rejected", BigInteger),
    # merge loads only: how the rows loaded met the table (NULL for other modes)
    Column("rows_inserted", BigInteger),
    Column("rows_updated", BigInteger),
    Column("rows_unchanged", BigInteger),
    Column("rows_superseded", BigInteger),  # earlier rows of a key repeated within the file
    Column("column_map", Text),
    Column("error", Text),
    Column("discovered_at", Timestamp),
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("duration_ms", BigInteger),
    Column("host", String(255)),
    Column("os_user", String(128)),
    Column("claimed_by", String(255)),
    Column("lease_expires", Timestamp),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("duplicate_of", BigInteger),
    Column("replay_of", BigInteger),
    Column("snapshot_date", Date),  # fullload: the date in the file's name (newest wins)
    Column("set_id", BigInteger),  # a part of a snapshot set: its `ingest_sets` row
    Column("set_part", Integer),  # ... and which part it is (1..part_count)
)

# Exactly-once: one file content per target may be in flight or loaded, whatever its name.
Index(
    "ux_ingest_files_content",
    files.c.target_schema,
    files.c.target_table,
    files.c.sha256,
    unique=True,
    sqlite_where=text(IN_FLIGHT_OR_LOADED),
    postgresql_where=text(IN_FLIGHT_OR_LOADED),
    mssql_where=text(IN_FLIGHT_OR_LOADED),
)
Index("ix_ingest_files_status", files.c.status, files.c.started_at)
Index("ix_ingest_files_target", files.c.target_schema, files.c.target_table, files.c.started_at)
Index("ix_ingest_files_set", files.c.set_id)

events = Table(
    "ingest_events",
    metadata,
    Column("event_id", Id, primary_key=True, autoincrement=True),
    Column("load_id", BigInteger, nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text),
    Column("instance", String(255)),
)
Index("ix_ingest_events_load", events.c.load_id)

rejects = Table(
    "ingest_rejects",
    metadata,
    Column("reject_id", Id, primary_key=True, autoincrement=True),
    Column("load_id", BigInteger, nullable=False),
    Column("line_number", BigInteger),
    Column("column_name", String(400)),
    Column("reason", Text, nullable=False),
    Column("raw", Text),
)
Index("ix_ingest_rejects_load", rejects.c.load_id)

# One snapshot delivered in parts (`...-part1_7.zip` ... `part7_7.zip`): the parts' audit rows
# point here; the set loads as one snapshot once all its parts are there.
sets = Table(
    "ingest_sets",
    metadata,
    Column("set_id", Id, primary_key=True, autoincrement=True),
    Column("set_name", String(400), nullable=False),
    Column("target_schema", String(128), nullable=False),
    Column("target_table", String(128), nullable=False),
    Column("part_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("snapshot_date", Date),
    Column("first_seen_at", Timestamp, nullable=False),
    Column("complete_at", Timestamp),
    Column("started_at", Timestamp),
    Column("finished_at", Timestamp),
    Column("rows_loaded", BigInteger),
    Column("rows_rejected", BigInteger),
    Column("overdue_at", Timestamp),  # when it was reported incomplete past its rule's set_timeout
    Column("claimed_by", String(255)),
    Column("replay_of", BigInteger),  # a replay: the set it loads again
    Column("error", Text),
)
Index("ix_ingest_sets_name", sets.c.target_schema, sets.c.target_table, sets.c.set_name)
Index("ix_ingest_sets_status", sets.c.status)

meta = Table(
    "ingest_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(400), nullable=False),
)


MERGES_TABLE = "ingest_merges"


@cache
def merges_table(schema: str | None) -> Table:
    """The record of every merge, kept beside its targets (in their schema, so that on SQLite
    it commits in the same file as the merge): the proof after a crash that a merge committed,
    and its counts. One object per schema: a new one for each merge would be a new statement to
    compile and keep in the engine's cache, batch after batch of a stream."""
    return Table(
        MERGES_TABLE,
        MetaData(),
        Column("load_id", BigInteger, primary_key=True, autoincrement=False),
        Column("target_table", String(128), nullable=False),
        Column("rows_inserted", BigInteger, nullable=False),
        Column("rows_updated", BigInteger, nullable=False),
        Column("rows_unchanged", BigInteger, nullable=False),
        Column("rows_superseded", BigInteger, nullable=False),
        Column("merged_at", Timestamp, nullable=False),
        schema=schema,
    )
