"""The one narrow interface every database backend implements.

A backend holds a database's primitives, everything dialect-specific: how to connect, how
to create schemas and tables, how rows travel fast (COPY, executemany, bulk copy, reading the
file itself), how a staging table is swapped into place keeping the old one in `bkp`, the
statements of a merge and the SQL of the operator views. What is done with them, the same on
every database, lives in `monitor.load`: setting up the daemon's tables (`load.setup`), the
steps of a merge (`load.write.merge_steps`), the rotation of backups (`load.write.backups`).

What a backend may or may not do is declared, never discovered: `reads_files` (it may
take a whole file, `load_file`), `supports_leases` (several processes may share the
work), `fills_in_parallel` (several connections may fill one committed table at once: the
parts of a snapshot set, or one large file cut at record ends, `load_file_split`) and
`commits_with_state` (its target tables commit with the daemon's own). So are its limits on
names and tables (`monitor.backends.names`), and how the database itself behaves where that
shows (`embedded`, `checks_value_types`, `text_folds_case`, `refuses_reserved_column_names`,
`reads_files_by`, `feeds_parsed_lines`): code and tests ask these, never the database's name.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    RootTransaction,
    Table,
    inspect,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.types import TypeEngine

from monitor import catalog
from monitor.backends import views
from monitor.backends.merge_tables import MergeTables
from monitor.backends.merging import Place
from monitor.backends.probes import Probes
from monitor.backends.target import FileRead, NotThisFile, RawFile, Target
from monitor.catalog import BKP_SCHEMA, LOAD_ID_COLUMN, REF_SCHEMA

STAGING_MARK = "__stg_"
BACKUP_MARK = "__load_"  # older backups: `bkp.<table>__load_<id>` (`monitor.load.write.backups`)


class Backend(MergeTables, Probes):
    """A database the daemon loads into and keeps its state in."""

    name: ClassVar[str]  # its URL's scheme (`monitor.backends.registry`), and its settings' key in the config
    label: ClassVar[str]  # the database's name as people write it, for messages
    url_aliases: ClassVar[tuple[str, ...]] = ()  # other spellings of the scheme
    default_driver: ClassVar[str | None] = None  # the SQLAlchemy driver of a URL that names none
    options_model: ClassVar[type[BaseModel]]  # its own settings (`backend.<name>` in the config)
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
    # -- how the database behaves, declared --
    embedded: ClassVar[bool] = False  # runs inside the process, in files (no server to drain or reconnect)
    checks_value_types: ClassVar[bool] = True  # a column refuses a value not of its type
    text_folds_case: ClassVar[bool] = False  # text (keys) compares without regard to case (the default collation)
    refuses_reserved_column_names: ClassVar[bool] = False  # a column of a `reserved_column_names` name fails
    reads_files_by: ClassVar[str | None] = None  # what reads a file itself (`reads_files`), as its messages say
    feeds_parsed_lines: ClassVar[bool] = False  # records its reader cannot take as lines go parsed, with the rest

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.quote = engine.dialect.identifier_preparer.quote_identifier
        self._write_lock: threading.Lock | nullcontext[None] = nullcontext()

    @classmethod
    @abstractmethod
    def from_url(cls, url: URL, options: BaseModel, *, pool_size: int) -> Backend:
        """The backend on a URL (its driver named), with its settings (an `options_model`);
        `pool_size` connections kept for a server database."""

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

    # -- fullload: the swap ---------------------------------------------
    @staticmethod
    def staging_name(table: str, load_id: int) -> str:
        """The staging table a fullload fills before the swap."""
        return f"{table}{STAGING_MARK}{load_id}"

    def replace_table(self, conn: Connection, schema: str, table: str, staging: str, *, keep_old: bool) -> None:
        """Within `conn`'s transaction, make `staging` the new `schema.table`: the current
        table becomes `bkp.<table>` (with `keep_old`; `bkp` made ready for it first, see
        `monitor.load.write.backups`) or is dropped. Readers see the old table or the new."""
        self.lock_target(conn, schema, table)
        if self.table_exists(conn, schema, table):
            if keep_old:
                self.move_to_backup(conn, schema, table)
            else:
                self.drop_table(conn, schema, table)
        self.rename_table(conn, schema, staging, table)

    @abstractmethod
    def move_to_backup(self, conn: Connection, schema: str, table: str) -> None:
        """Make `schema.table` into `bkp.<table>` (which does not exist): moved where the
        database can move a table between schemas, else copied and dropped."""

    # -- columns and indexes --------------------------------------------------------
    def column_definitions(self, conn: Connection, schema: str | None, table: str) -> list[tuple[str, TypeEngine]]:
        """The table's columns with their types, in order."""
        return [(col["name"], col["type"]) for col in inspect(conn).get_columns(table, schema=schema)]

    def drop_index(self, conn: Connection, place: Place, name: str) -> None:
        """Drop a table's index."""
        qualified = self.qualified(place.schema, name) if place.schema else self.quote(name)
        conn.execute(text(f"DROP INDEX {qualified}"))

    def has_index(self, conn: Connection, place: Place, name: str) -> bool:
        """True when the table has an index of that name."""
        return any(index["name"] == name for index in inspect(conn).get_indexes(place.table, schema=place.schema))

    def create_index(self, conn: Connection, place: Place, name: str, columns: list[str], *, unique: bool) -> None:
        """An index on `columns` of a table."""
        table = Table(place.table, MetaData(), *(Column(c) for c in columns), schema=place.schema)
        Index(name, *(table.c[c] for c in columns), unique=unique).create(conn)

    def run_sql(self, conn: Connection, sql: str, *, fetch: bool = False) -> Any:
        """Run one statement on the driver's own cursor (names are never read as parameters):
        its rows with `fetch`, else the rows it changed."""
        cursor = self.dbapi_connection(conn).cursor()
        try:
            cursor.execute(sql)
            return cursor.fetchall() if fetch else int(cursor.rowcount)
        finally:
            cursor.close()
