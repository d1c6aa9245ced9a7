"""The one narrow interface every database backend implements.

A backend owns everything dialect-specific: how to connect, how to create
schemas and tables, how rows travel fast (COPY, executemany, bulk copy, reading the
file itself), how a staging table is swapped into place keeping the old one in `bkp`,
and the SQL of the operator views. Strategies and the pipeline speak only this interface.

What a backend may or may not do is declared, never discovered: `reads_files` (it may
take a whole file, `load_file`), `supports_leases` (several processes may share the
work), `fills_in_parallel` (several connections may fill one committed table at once: the
parts of a snapshot set, or one large file cut at record ends, `load_file_split`) and
`commits_with_state` (its target tables commit with the daemon's own). So are its limits on
names and tables (`monitor.backends.names`).
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Identity,
    Index,
    MetaData,
    RootTransaction,
    Table,
    inspect,
    text,
)
from sqlalchemy.types import TypeEngine

from monitor import catalog
from monitor.backends import merge_steps, setup, views
from monitor.backends.merging import SEQ_COLUMN, MergeCounts, MergePlan, MergeSql, Place, short_name, staging_name
from monitor.backends.target import FileRead, NotThisFile, RawFile, Target
from monitor.catalog import BKP_SCHEMA, HISTORY_SUFFIX, LOAD_ID_COLUMN, REF_SCHEMA

STAGING_MARK = "__stg_"
BACKUP_MARK = "__load_"


class Backend(ABC):
    """A database the daemon loads into and keeps its state in."""

    name: ClassVar[str]
    label: ClassVar[str]  # the database's name as people write it, for messages
    default_schema: ClassVar[str]
    max_identifier_bytes: int | None = None  # a name's length (None: no limit); an instance may lower it
    max_columns: ClassVar[int]  # columns in a table, the lineage column `_load_id` included
    reserved_column_names: ClassVar[frozenset[str]] = frozenset()  # the database's own (system) columns
    side_table_mark: ClassVar[str | None] = None  # a load fills `<table><mark><load_id>` first (SQL Server)
    view_sql: ClassVar[views.ViewSql]
    schema_prologue: ClassVar[str] = ""  # what `ddl` writes before the tables (schemas)
    supports_leases: ClassVar[bool] = True
    reads_files: ClassVar[bool] = False
    names_fold_case: ClassVar[bool] = False  # table names compare without regard to case
    fills_in_parallel: ClassVar[bool] = False
    split_connections = 1  # connections one large fullload file is filled over (`load_file_split`; 1: one)
    split_min_bytes = 64 << 20  # files this large (as stored) are split; smaller ones go over one connection
    write_options: ClassVar[dict[str, str]] = {}
    merge_sql: ClassVar[type[MergeSql]] = MergeSql

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shown_url = engine.url.render_as_string(hide_password=True)  # as the user wrote it: open_backend
        self.quote = engine.dialect.identifier_preparer.quote_identifier
        self._write_lock: threading.Lock | nullcontext[None] = nullcontext()

    # -- connections -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self._write_lock, self.engine.connect() as conn:
            conn.execution_options(**self.write_options)
            trans = conn.begin()
            try:
                yield conn
            except BaseException:
                self.end_failed(conn, trans)
                raise
            if trans.is_active:
                trans.commit()

    def end_failed(self, conn: Connection, trans: RootTransaction) -> None:
        """End a transaction after an error in its block (the error is re-raised after).
        A backend whose server may already have ended it overrides this, so that the
        original error is the one reported."""
        if trans.is_active:
            trans.rollback()
        else:
            trans.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for queries that change nothing."""
        with self.engine.connect() as conn:
            yield conn

    @staticmethod
    def dbapi_connection(conn: Connection) -> Any:
        """The driver's own connection under a SQLAlchemy one (for COPY, bulk copy, cursors)."""
        driver = conn.connection.driver_connection
        assert driver is not None, "a live connection has a driver connection"
        return driver

    def schema_for(self, reference: bool) -> str:
        """`ref` for reference data, else the database's default schema."""
        return REF_SCHEMA if reference else self.default_schema

    def commits_with_state(self, schema: str | None) -> bool:
        """True when one transaction that writes `schema` and the daemon's own tables
        commits all or nothing (not where they live in files committed one by one)."""
        return True

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.reading() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- schema ------------------------------------------------------------------------
    def init_db(self) -> None:
        """Create the `ref` and `bkp` schemas, the daemon's own tables and the operator views,
        or bring an older version of them up to this one (`monitor.backends.setup`)."""
        setup.init_db(self)

    def add_missing_columns(self, conn: Connection) -> None:
        """Add to the daemon's tables the columns a newer version defines (all nullable)."""
        for table in catalog.metadata.sorted_tables:
            present = set(self.columns_of(conn, None, table.name))
            for column in table.columns:
                if column.name not in present:
                    type_sql = column.type.compile(dialect=self.engine.dialect)
                    conn.execute(text(f"ALTER TABLE {self.qualified(None, table.name)} "
                                      f"ADD {self.quote(column.name)} {type_sql}"))

    def create_views(self, conn: Connection) -> None:
        """Create (or replace) the operator views (`monitor.backends.views`)."""
        for statement in views.statements(self.view_sql):
            conn.execute(text(statement))

    def drop_views(self, conn: Connection) -> None:
        """Drop the operator views (they are created again from this version's definitions)."""
        for name in views.VIEW_NAMES:
            conn.execute(text(f"DROP VIEW IF EXISTS {self.quote(name)}"))

    def is_initialised(self) -> bool:
        """True when the schemas, the daemon's tables and the operator views all exist, at
        this version."""
        return setup.is_initialised(self)

    def objects_exist(self) -> bool:
        """True when the schemas, the daemon's tables and the operator views all exist."""
        with self.reading() as conn:
            names = set(inspect(conn).get_table_names())
            schemas = set(inspect(conn).get_schema_names())
            view_names = set(inspect(conn).get_view_names())
        return ({REF_SCHEMA, BKP_SCHEMA} <= schemas and set(catalog.metadata.tables) <= names
                and set(views.VIEW_NAMES) <= view_names)

    @abstractmethod
    def create_schemas(self, conn: Connection) -> None:
        """Create `ref` and `bkp` (or the backend's documented equivalent)."""

    def text_type(self) -> TypeEngine:
        """The column type a CSV value lands in before typing rules exist."""
        from sqlalchemy import Text

        return Text()

    def qualified(self, schema: str | None, table: str) -> str:
        """`schema.table`, each part quoted whatever it holds."""
        return f"{self.quote(schema)}.{self.quote(table)}" if schema else self.quote(table)

    def table_exists(self, conn: Connection, schema: str | None, table: str) -> bool:
        """True when the table exists."""
        return inspect(conn).has_table(table, schema=schema)

    def columns_of(self, conn: Connection, schema: str | None, table: str) -> list[str]:
        """The table's column names, in order."""
        return [col["name"] for col in inspect(conn).get_columns(table, schema=schema)]

    def tables_in(self, conn: Connection, schema: str | None) -> list[str]:
        """Every table name in a schema."""
        return inspect(conn).get_table_names(schema=schema)

    def column_type(self, kind: str) -> TypeEngine:
        """The column type for a declared kind (`monitor.load.read.column_types`: text, integer,
        decimal, date, datetime, boolean); a backend overrides it for its own types."""
        from sqlalchemy import Boolean, Date, DateTime, Numeric

        types: dict[str, TypeEngine] = {
            "integer": BigInteger(), "decimal": Numeric(), "date": Date(), "datetime": DateTime(),
            "boolean": Boolean(),
        }
        return types.get(kind) or self.text_type()

    def create_table(
        self, conn: Connection, schema: str | None, table: str, columns: list[str],
        types: Mapping[str, str] | None = None,
    ) -> None:
        """Create a table of text columns (or the declared `types`, column -> kind) plus
        the load-id lineage column."""
        kinds = types or {}
        cols = [Column(name, self.column_type(kinds.get(name, "text"))) for name in columns]
        Table(table, MetaData(), *cols, Column(LOAD_ID_COLUMN, BigInteger()), schema=schema).create(conn)

    def add_columns(
        self, conn: Connection, schema: str | None, table: str, columns: list[str],
        types: Mapping[str, str] | None = None,
    ) -> None:
        """Add nullable columns (text, or the declared `types`) to an existing table."""
        kinds = types or {}
        for name in columns:
            type_sql = self.column_type(kinds.get(name, "text")).compile(dialect=self.engine.dialect)
            conn.execute(text(f"ALTER TABLE {self.qualified(schema, table)} ADD {self.quote(name)} {type_sql}"))

    def share_for_filling(self, conn: Connection, schema: str | None, table: str) -> None:
        """Make a new table ready for several connections to fill at once, each its own load's
        rows (backends that declare `fills_in_parallel`; nothing by default)."""
        return None

    def drop_table(self, conn: Connection, schema: str | None, table: str) -> None:
        """Drop a table if it exists."""
        if self.table_exists(conn, schema, table):
            conn.execute(text(f"DROP TABLE {self.qualified(schema, table)}"))

    def rename_table(self, conn: Connection, schema: str, table: str, new_name: str) -> None:
        """Rename a table within its schema."""
        conn.execute(text(f"ALTER TABLE {self.qualified(schema, table)} RENAME TO {self.quote(new_name)}"))

    def lock_target(self, conn: Connection, schema: str | None, table: str) -> None:
        """Serialise DDL on one target across processes until the transaction ends
        (nothing where the database already serialises writers)."""
        return None

    # -- data --------------------------------------------------------------------------
    @abstractmethod
    def bulk_insert(self, conn: Connection, target: Target, batches: Iterable[list[list[str]]]) -> int:
        """Insert every row of every batch (each row as wide as `target.columns`), tagging
        each with the load id; values listed in `target.null_values` become NULL. Returns
        rows inserted."""

    def is_data_error(self, exc: BaseException) -> bool:
        """True for an error about the rows themselves (a value its column cannot hold, a
        constraint): PEP 249's DataError or IntegrityError, raw from the driver or wrapped by
        SQLAlchemy; not about the connection or the SQL. A backend adds its own server's."""
        orig = getattr(exc, "orig", None)
        if isinstance(orig, BaseException) and orig is not exc:
            exc = orig
        return any(cls.__name__ in ("DataError", "IntegrityError") for cls in type(exc).__mro__)

    def value_errors_end_transactions(self, conn: Connection) -> bool:
        """Whether a value the database cannot convert to its column's type ends the whole
        transaction (savepoints with it) instead of just the statement."""
        return False

    @contextmanager
    def probing(self, conn: Connection, target: Target) -> Iterator[Callable[[list[list[str]]], None]]:
        """Where value errors end transactions: a function that tries rows on a connection of
        its own, into a scratch table of `target`'s column types, each try rolled back,
        raising the database's error for rows it refuses."""
        raise NotImplementedError(f"the {self.name} backend keeps its transaction after an error")
        yield  # a generator, for the type checker

    def load_file(self, conn: Connection, target: Target, raw: RawFile) -> FileRead:
        """Read the file itself into `target` inside `conn`'s transaction: `FileLoaded`, or
        `NotThisFile` with the reason, having written nothing. Backends that declare
        `reads_files` override this."""
        return NotThisFile(f"the {self.name} backend does not read files itself")

    def load_file_split(self, target: Target, raw: RawFile, connections: int) -> FileRead:
        """`load_file` over `connections` connections at once into a committed table (made ready by
        `share_for_filling`), each a transaction of its own, all committed or none."""
        return NotThisFile(f"the {self.name} backend does not fill one file over several connections")

    def rows_of_load(self, conn: Connection, schema: str | None, table: str, load_id: int) -> int:
        """How many rows of `table` came from `load_id` (0 when the table is missing)."""
        if not self.table_exists(conn, schema, table):
            return 0
        sql = f"SELECT COUNT(*) FROM {self.qualified(schema, table)} WHERE {self.quote(LOAD_ID_COLUMN)} = :lid"
        return int(conn.execute(text(sql), {"lid": load_id}).scalar_one())

    def load_id_of(self, conn: Connection, schema: str | None, table: str) -> int | None:
        """The load id of any one row of `table` (a fullload table holds one load)."""
        sql = f"SELECT MAX({self.quote(LOAD_ID_COLUMN)}) FROM {self.qualified(schema, table)}"
        value = conn.execute(text(sql)).scalar()
        return int(value) if value is not None else None

    # -- fullload: the swap and the backups ---------------------------------------------
    @staticmethod
    def staging_name(table: str, load_id: int) -> str:
        """The staging table a fullload fills before the swap."""
        return f"{table}{STAGING_MARK}{load_id}"

    def replace_table(self, conn: Connection, schema: str, table: str, staging: str, keep_backups: int) -> None:
        """Within `conn`'s transaction, make `staging` the new `schema.table`: the current
        table becomes `bkp.<table>` (older backups renamed `<table>__load_<id>`, `keep_backups`
        versions kept in all; none kept with 0). Readers see the old table or the new."""
        self.lock_target(conn, schema, table)
        if self.table_exists(conn, schema, table):
            if keep_backups:
                self.rotate_backups(conn, table, keep_backups)
                self.move_to_backup(conn, schema, table)
            else:
                self.drop_table(conn, schema, table)
        self.rename_table(conn, schema, staging, table)

    @abstractmethod
    def move_to_backup(self, conn: Connection, schema: str, table: str) -> None:
        """Make `schema.table` into `bkp.<table>` (which does not exist): moved where the
        database can move a table between schemas, else copied and dropped."""

    def rotate_backups(self, conn: Connection, table: str, keep: int) -> None:
        """Make room for a new `bkp.<table>`: the one there becomes `<table>__load_<id>`
        (or is dropped when only one version is kept), and the oldest beyond `keep - 1`
        older versions are dropped."""
        if self.table_exists(conn, BKP_SCHEMA, table):
            if keep > 1:
                self.rename_table(conn, BKP_SCHEMA, table, self.archive_backup_name(conn, table))
            else:
                self.drop_table(conn, BKP_SCHEMA, table)
        for _, name in self.backup_names(conn, table)[max(keep - 1, 0):]:
            self.drop_table(conn, BKP_SCHEMA, name)

    def backup_names(self, conn: Connection, table: str) -> list[tuple[int, str]]:
        """Older backups of `table` in `bkp` as (load id, name), newest first."""
        pattern = re.compile(re.escape(table + BACKUP_MARK) + r"(\d+)$", re.IGNORECASE if self.names_fold_case else 0)
        found = []
        for name in self.tables_in(conn, BKP_SCHEMA):
            match = pattern.match(name)
            if match:
                found.append((int(match.group(1)), name))
        return sorted(found, reverse=True)

    def archive_backup_name(self, conn: Connection, table: str) -> str:
        """The name `bkp.<table>` takes when a newer backup arrives: `<table>__load_<id>`."""
        load_id = self.load_id_of(conn, BKP_SCHEMA, table) or 0
        taken = {name for _, name in self.backup_names(conn, table)}
        name, suffix = f"{table}{BACKUP_MARK}{load_id}", 2
        while name in taken:
            name = f"{table}{BACKUP_MARK}{load_id}{suffix}"
            suffix += 1
        return name

    # -- merge: staged rows applied on a key (`monitor.backends.merging`) ----------------
    def history_of(self, schema: str | None, table: str) -> Place:
        """Where a merge target's history table lives: `bkp.<table>__history`."""
        return Place(BKP_SCHEMA, table + HISTORY_SUFFIX)

    def staging_of(self, schema: str | None, table: str, load_id: int) -> Place:
        """Where a merge stages its file: beside the target, dropped in the load's transaction."""
        return Place(schema, staging_name(table, load_id))

    def column_definitions(self, conn: Connection, schema: str | None, table: str) -> list[tuple[str, TypeEngine]]:
        """The table's columns with their types, in order."""
        return [(col["name"], col["type"]) for col in inspect(conn).get_columns(table, schema=schema)]

    def has_index(self, conn: Connection, place: Place, name: str) -> bool:
        """True when the table has an index of that name."""
        return any(index["name"] == name for index in inspect(conn).get_indexes(place.table, schema=place.schema))

    def create_index(self, conn: Connection, place: Place, name: str, columns: list[str], *, unique: bool) -> None:
        """An index on `columns` of a table."""
        table = Table(place.table, MetaData(), *(Column(c) for c in columns), schema=place.schema)
        Index(name, *(table.c[c] for c in columns), unique=unique).create(conn)

    def add_typed_column(self, conn: Connection, place: Place, name: str, type_: TypeEngine) -> None:
        """Add a nullable column of a given type."""
        type_sql = type_.compile(dialect=self.engine.dialect)
        conn.execute(text(f"ALTER TABLE {self.qualified(place.schema, place.table)} ADD {self.quote(name)} {type_sql}"))

    def create_table_of(self, conn: Connection, place: Place, columns: list[tuple[str, TypeEngine]]) -> None:
        """A table of these columns and types (a merge target's history table)."""
        Table(place.table, MetaData(), *(Column(n, t) for n, t in columns), schema=place.schema).create(conn)

    def prepare_merge(self, conn: Connection, schema: str | None, table: str, keys: list[str]) -> None:
        """Make an existing merge target ready, inside the caller's transaction (the target
        locked): the unique index on its key, its history table with every column it has
        (plus the replacing load and time), and the `ingest_merges` record beside it."""
        merge_steps.prepare(self, conn, Place(schema, table), keys)

    def merge_plan(self, conn: Connection, schema: str | None, table: str, keys: list[str], columns: list[str],
                   load_id: int) -> MergePlan:
        """The plan of one merge into a prepared target."""
        kept = [name for name in self.columns_of(conn, schema, table) if name != LOAD_ID_COLUMN]
        return MergePlan(Place(schema, table), self.staging_of(schema, table, load_id), self.history_of(schema, table),
                         list(keys), list(columns), kept, load_id)

    def create_staging(self, conn: Connection, plan: MergePlan) -> None:
        """The staging table of a merge: the file's columns typed as the target has them, and
        `_seq` numbering the rows in the order they arrive."""
        types = dict(self.column_definitions(conn, plan.target.schema, plan.target.table))
        self.staging_table(plan.staging, [Column(name, types.get(name, self.text_type())) for name in plan.columns],
                           ).create(conn)

    def staging_table(self, place: Place, columns: list[Column[Any]]) -> Table:
        """The staging table's definition: `_seq` (an identity column), the columns, `_load_id`."""
        return Table(place.table, MetaData(), Column(SEQ_COLUMN, BigInteger(), Identity()), *columns,
                     Column(LOAD_ID_COLUMN, BigInteger()), schema=place.schema)

    def index_staging(self, conn: Connection, plan: MergePlan) -> None:
        """Make the filled staging table quick to join on the key."""
        self.create_index(conn, plan.staging, short_name(f"ix_{plan.staging.table}"), [*plan.keys, SEQ_COLUMN],
                          unique=False)

    def drop_staging(self, conn: Connection, place: Place) -> None:
        """Drop a merge's staging table (in the load's transaction)."""
        self.run_sql(conn, f"DROP TABLE {self.qualified(place.schema, place.table)}")

    def merge_statements(self, conn: Connection, plan: MergePlan) -> MergeSql:
        """The statements of this merge in the backend's dialect."""
        return self.merge_sql(self.quote, plan)

    def has_empty_keys(self, conn: Connection, plan: MergePlan) -> bool:
        """True when a staged row's key is empty (rows staged from the file as it is)."""
        return bool(self.run_sql(conn, self.merge_statements(conn, plan).empty_keys(), fetch=True))

    def merge_from(self, conn: Connection, plan: MergePlan, staged: int) -> MergeCounts:
        """Apply `staged` rows of the staging table to the target inside `conn`'s transaction
        (see `monitor.backends.merging`): the last row of a key wins, the replaced versions go
        to history, matching keys are updated, new keys inserted; the staging table is dropped
        and the merge recorded in `ingest_merges`."""
        return merge_steps.apply(self, conn, plan, staged)

    def merged(self, conn: Connection, schema: str | None, table: str, load_id: int) -> MergeCounts | None:
        """The counts of a merge recorded beside its target; None when it never committed."""
        return merge_steps.recorded(self, conn, Place(schema, table), load_id)

    def run_sql(self, conn: Connection, sql: str, *, fetch: bool = False) -> Any:
        """Run one statement on the driver's own cursor (names are never read as parameters):
        its rows with `fetch`, else the rows it changed."""
        cursor = self.dbapi_connection(conn).cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchall() if fetch else int(cursor.rowcount)
        finally:
            cursor.close()
