"""SQL Server (2017+, Azure SQL, Babelfish for PostgreSQL) through pyodbc or mssql-python.

Every statement this backend sends is built by `MssqlStatements` (pure functions, so tests parse
each one as T-SQL without a server), in the subset that SQL Server, Azure SQL and Babelfish all
accept: `sp_rename ..., 'OBJECT'`, no `ALTER SCHEMA ... TRANSFER`, no `MERGE`, no `READPAST`.

How rows travel (`insert_path`; the paths in `insert_paths`, JSON forms in `json_rows`):
- pyodbc with Microsoft's ODBC driver on SQL Server: `fast_executemany` with sized parameters.
- Otherwise (FreeTDS, mssql-python, Microsoft's driver on Babelfish): 1,000 rows per statement as
  one JSON text (`OPENJSON`), in the form the engine's OPENJSON reads (asked once per target).
- mssql-python's TDS bulk copy (`bulk_copy`, off by default) and `bcp` (`mssql_bcp`) fill a side
  table (`<table>__bulk_<load_id>`) on their own connection, which the load's transaction moves
  into the target and drops: rows, state and audit row commit together.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, RootTransaction, event
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import URL
from sqlalchemy.types import TypeEngine

from monitor import catalog
from monitor.backends import views
from monitor.backends.base import Backend
from monitor.backends.idle_ping import ping_when_idle
from monitor.backends.merging import SEQ_COLUMN, MergePlan, MergeSql, Place, short_name
from monitor.backends.mssql import lock_waits, writable
from monitor.backends.mssql.column_types import KIND_TYPES, sql_type
from monitor.backends.mssql.connect import mssql_engine
from monitor.backends.mssql.fill import TableFill
from monitor.backends.mssql.insert_paths import (
    SQL_DRIVER_NAME,
    SQL_DRIVER_VER,
    DriverInfo,
    InsertPath,
    choose_insert_path,
    nulls_mapped,
)
from monitor.backends.mssql.json_rows import JsonForm, probe_json_form
from monitor.backends.mssql.options import MssqlOptions
from monitor.backends.mssql.probe import probing
from monitor.backends.mssql.side_tables import SideTables
from monitor.backends.mssql.statements import (
    BULK_MARK,
    TEXT_CHARS,
    VIEW_SQL,
    MssqlMergeSql,
    applock_resource,
    qualified,
    renamable,
)
from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.backends.mssql.swap import MssqlSwapForms
from monitor.backends.names import SYSTEM_COLUMNS
from monitor.backends.registry import register
from monitor.backends.target import Target
from monitor.catalog import BKP_SCHEMA, REF_SCHEMA

log = logging.getLogger("monitor.backends.mssql")
# PostgreSQL's words for a value or a row it refuses, as Babelfish passes them on.
ENGINE_DATA_ERRORS = ("invalid input syntax for type", "value too long for type", "out of range",
                      "violates not-null constraint", "violates check constraint", "violates unique constraint",
                      "invalid byte sequence", "null value in column")


# -- the backend ------------------------------------------------------------------------
class MssqlBackend(Backend):
    """SQL Server, Azure SQL and Babelfish."""

    name = "mssql"
    label = "SQL Server"
    default_driver = "mssql+pyodbc"
    options_model = MssqlOptions
    default_schema = "dbo"
    default_port = writable.DEFAULT_PORT
    names_fold_case = True  # SQL Server's default collation, and Babelfish's
    text_folds_case = True  # the same collation for values: keys that differ only in case are one
    max_identifier_bytes = 128  # sysname: 128 characters (the names made from headers are ASCII)
    babelfish_identifier_bytes = 63  # Babelfish keeps names in PostgreSQL, which cuts longer ones and adds a hash
    max_columns = 1024  # a table that is not a wide table
    reserved_column_names = SYSTEM_COLUMNS  # Babelfish's tables are PostgreSQL's
    side_table_mark = BULK_MARK  # bulk copy and bcp fill a side table
    view_sql = VIEW_SQL
    swap_forms = MssqlSwapForms
    schema_prologue = ("IF SCHEMA_ID(N'ref') IS NULL EXEC(N'CREATE SCHEMA ref');\nGO\n"
                       "IF SCHEMA_ID(N'bkp') IS NULL EXEC(N'CREATE SCHEMA bkp');\nGO\n")
    write_refusal = staticmethod(writable.refusal)
    session_of = staticmethod(lock_waits.session_of)

    def __init__(self, engine: Engine, *, bcp: bool = False, bulk_copy: str = "never") -> None:
        super().__init__(engine)
        self.bcp_enabled, self.bulk_copy = bcp, bulk_copy
        self.bcp_found = bool(shutil.which("bcp")) if bcp else False
        if bcp and not self.bcp_found:
            log.warning("mssql_bcp is set but bcp is not on the PATH; loading without it")
        self._driver: DriverInfo | None = None
        self._babelfish: bool | None = None
        self.json_form: JsonForm | None = None  # what the engine's OPENJSON reads, asked once
        self._bulk_broken: set[str] = set()
        self.side_tables = SideTables(engine)  # bulk copy's and bcp's, dropped if the load fails
        event.listen(engine, "connect", self._on_connect)

    @classmethod
    def from_url(cls, url: URL, options: BaseModel, *, pool_size: int) -> MssqlBackend:
        """The URL in its driver's form (`connect.mssql_engine`), `pool_size` connections kept."""
        assert isinstance(options, MssqlOptions)
        engine = mssql_engine(url, pool_size=pool_size, max_overflow=pool_size // 2)
        ping_when_idle(engine)
        return cls(engine, bcp=options.bcp, bulk_copy=options.bulk_copy)

    def _on_connect(self, dbapi_connection: Any, _record: object) -> None:
        """Every connection reads `"name"` as an identifier; the first learns the engine and its JSON form."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(S.quoted_identifiers_on())
            if self._babelfish is None:
                cursor.execute(S.babelfish())
                self._learn_babelfish(bool(cursor.fetchone()[0]))
        finally:
            cursor.close()
        if self.json_form is None:
            self.json_form = probe_json_form(dbapi_connection)
            log.info("SQL Server's OPENJSON reads rows in the %s form", self.json_form)

    def _learn_babelfish(self, babelfish: bool) -> None:
        """Keep what the server is; on Babelfish, names are held to PostgreSQL's length."""
        self._babelfish = babelfish
        if babelfish:
            self.max_identifier_bytes = self.babelfish_identifier_bytes

    def is_babelfish(self, conn: Connection) -> bool:
        """Whether the server is Babelfish for PostgreSQL (`SERVERPROPERTY('babelfish')`; cached)."""
        if self._babelfish is None:
            self._learn_babelfish(bool(conn.exec_driver_sql(S.babelfish()).scalar()))
        assert self._babelfish is not None
        return self._babelfish

    # -- connections -------------------------------------------------------------------
    def driver(self, conn: Connection) -> DriverInfo:
        """The connection's DB-API module, ODBC driver name and version (cached)."""
        if self._driver is None:
            raw = self.dbapi_connection(conn)
            dbapi = "mssql_python" if type(raw).__module__.startswith("mssql_python") else "pyodbc"
            try:
                name, version = str(raw.getinfo(SQL_DRIVER_NAME)), str(raw.getinfo(SQL_DRIVER_VER))
            except Exception:  # a driver without SQLGetInfo for these: assume the plain path
                name, version = "", ""
            self._driver = DriverInfo(dbapi, name, version)
            log.info("SQL Server driver: %s %s %s; rows go by %s", dbapi, name, version, self.insert_path(conn))
        return self._driver

    def insert_path(self, conn: Connection) -> InsertPath:
        """The fastest path here; mssql-python's bulk copy not on Babelfish unless `always`."""
        bulk = self.bulk_copy == "always" or (self.bulk_copy == "auto" and not self.is_babelfish(conn))
        return choose_insert_path(self.driver(conn), bcp=self.bcp_enabled, bcp_found=self.bcp_found, bulk_copy=bulk,
                                  describes=not self.is_babelfish(conn))  # Babelfish 4.2: 4,000 characters

    def end_failed(self, conn: Connection, trans: RootTransaction) -> None:
        """Roll back only if the server still has the transaction (`XACT_ABORT` and Babelfish end it on
        many errors), so the original error is the one reported; then drop the load's side tables."""
        try:
            if conn.invalidated or not trans.is_active:
                trans.close()
            elif conn.exec_driver_sql(S.trancount).scalar():
                trans.rollback()
            else:
                conn.invalidate()  # nothing to roll back; never reuse a connection in doubt
        except Exception as exc:  # the connection is gone: the server rolled back
            log.debug("after a failed transaction: %s", exc)
            if not conn.invalidated:
                conn.invalidate()
        self.side_tables.drop_left_by(conn)

    def identity(self) -> str | None:
        return writable.identity(self.engine)

    def write_problem(self) -> str | None:
        return writable.problem(self.engine, self.default_schema, self.is_babelfish)

    def lock_waits(self, sessions: list[str]) -> dict[str, str]:
        return lock_waits.lock_waits(self.engine, sessions, self.is_babelfish)

    def objects_exist(self) -> bool:
        sql = S.initialised((REF_SCHEMA, BKP_SCHEMA), list(catalog.metadata.tables), views.VIEW_NAMES)
        with self.reading() as conn:
            return bool(conn.exec_driver_sql(sql).scalar())

    # -- schema ------------------------------------------------------------------------
    def create_schemas(self, conn: Connection) -> None:
        """`ref` and `bkp` (CREATE SCHEMA runs alone in its batch; init holds the app lock)."""
        for schema in (REF_SCHEMA, BKP_SCHEMA):
            if conn.exec_driver_sql(S.schema_id(schema)).scalar() is None:
                conn.exec_driver_sql(S.create_schema(schema))

    def add_missing_columns(self, conn: Connection) -> None:
        """Add to the daemon's tables the columns a newer version defines (all nullable)."""
        for table in catalog.metadata.sorted_tables:
            present = set(self.columns_of(conn, None, table.name))
            for column in table.columns:
                if column.name not in present:
                    conn.exec_driver_sql(S.add_column(None, table.name, column.name, column.type))

    def drop_views(self, conn: Connection) -> None:
        """Drop each operator view that exists."""
        for name in views.VIEW_NAMES:
            if conn.exec_driver_sql(S.view_id(name)).scalar() is not None:
                conn.exec_driver_sql(S.drop_view(name))

    def create_views(self, conn: Connection) -> None:
        """Each missing operator view, with a plain CREATE VIEW (sql/mssql/views.sql has the
        CREATE OR ALTER form for re-running in SSMS)."""
        for name in views.VIEW_NAMES:
            if conn.exec_driver_sql(S.view_id(name)).scalar() is None:
                conn.exec_driver_sql(S.create_view(name))

    def text_type(self) -> TypeEngine:
        """NVARCHAR(4000); a column widens to NVARCHAR(max) when a longer value arrives."""
        return mssql.NVARCHAR(TEXT_CHARS)

    def qualified(self, schema: str | None, table: str) -> str:
        return qualified(schema, table)

    def table_exists(self, conn: Connection, schema: str | None, table: str) -> bool:
        return conn.exec_driver_sql(S.table_id(schema, table)).scalar() is not None

    def column_chars(self, conn: Connection, schema: str | None, table: str) -> dict[str, int]:
        """Each column's width in characters (-1: max, 0: not a text column)."""
        out = {}
        for name, type_name, max_length, *_ in conn.exec_driver_sql(S.column_types(schema, table)):
            if type_name in ("nvarchar", "nchar"):
                out[name] = -1 if max_length == -1 else max_length // 2
            elif type_name in ("varchar", "char"):
                out[name] = max_length
            else:
                out[name] = 0
        return out

    def columns_of(self, conn: Connection, schema: str | None, table: str) -> list[str]:
        return list(self.column_chars(conn, schema, table))

    def tables_in(self, conn: Connection, schema: str | None) -> list[str]:
        return [row[0] for row in conn.exec_driver_sql(S.tables_in(schema or self.default_schema))]

    def column_type(self, kind: str) -> TypeEngine:
        """SQL Server types for declared kinds (DECIMAL(38, 10): NUMERIC alone is (18, 0))."""
        return KIND_TYPES[kind] if kind in KIND_TYPES else self.text_type()

    def create_table(self, conn: Connection, schema: str | None, table: str, columns: list[str],
                     types: Mapping[str, str] | None = None) -> None:
        kinds = types or {}
        column_types = [self.column_type(kinds.get(name, "text")) for name in columns]
        conn.exec_driver_sql(S.create_table(schema, table, columns, column_types))

    def add_columns(self, conn: Connection, schema: str | None, table: str, columns: list[str],
                    types: Mapping[str, str] | None = None) -> None:
        kinds = types or {}
        for name in columns:
            conn.exec_driver_sql(S.add_column(schema, table, name, self.column_type(kinds.get(name, "text"))))

    def drop_table(self, conn: Connection, schema: str | None, table: str) -> None:
        if self.table_exists(conn, schema, table):
            conn.exec_driver_sql(S.drop_table(schema, table))

    def lock_target(self, conn: Connection, schema: str | None, table: str) -> None:
        """`sp_getapplock`, owned by the transaction: released at commit or rollback."""
        cursor = self.dbapi_connection(conn).cursor()
        try:
            cursor.execute(S.applock(applock_resource(schema, table)))
            while cursor.description is None and cursor.nextset():
                pass
            result = cursor.fetchone()[0]
        finally:
            cursor.close()
        if result is None or int(result) < 0:
            raise RuntimeError(f"could not lock {schema}.{table} (sp_getapplock returned {result})")

    def rows_of_load(self, conn: Connection, schema: str | None, table: str, load_id: int) -> int:
        if not self.table_exists(conn, schema, table):
            return 0
        return int(conn.exec_driver_sql(S.rows_of_load(schema, table, load_id)).scalar_one())

    def load_id_of(self, conn: Connection, schema: str | None, table: str) -> int | None:
        value = conn.exec_driver_sql(S.max_load_id(schema, table)).scalar()
        return int(value) if value is not None else None

    # -- data --------------------------------------------------------------------------
    def bulk_insert(self, conn: Connection, target: Target, batches: Iterable[list[list[str]]]) -> int:
        """Insert every batch by the driver's fastest path (see the module docstring)."""
        driver, path = self.driver(conn), self.insert_path(conn)
        fill = TableFill(self, conn, target, driver)
        rows_in = (nulls_mapped(rows, target.null_values) for rows in batches)
        if path in (InsertPath.BULKCOPY, InsertPath.BCP) and target.key not in self._bulk_broken and not target.ordered:
            return fill.via_side_table(rows_in, path)
        return fill.direct_all(rows_in)

    def mark_bulk_broken(self, key: str, reason: BaseException | str) -> None:
        """Use the direct path for this target (`Target.key`) from now on."""
        if key not in self._bulk_broken:
            self._bulk_broken.add(key)
            log.warning("bulk path failed for %s, using the direct path from now on: %s: %s",
                        key, type(reason).__name__, reason)

    # -- fullload ----------------------------------------------------------------------
    def rename_table(self, conn: Connection, schema: str, table: str, new_name: str) -> None:
        """`sp_rename ..., 'OBJECT'`; on Babelfish, whose `sp_rename` finds no table whose name needs
        quoting, such a table is copied under the new name (SELECT INTO) and dropped, in the same transaction."""
        if self.is_babelfish(conn) and not (renamable(schema) and renamable(table) and renamable(new_name)):
            conn.exec_driver_sql(S.select_into(schema, table, schema, new_name))
            conn.exec_driver_sql(S.drop_table(schema, table))
        else:
            conn.exec_driver_sql(S.rename(schema, table, new_name))

    @contextmanager
    def probing(self, conn: Connection, target: Target) -> Iterator[Callable[[list[list[str]]], None]]:
        """Rows tried on a connection of their own (`probe.probing`), every try rolled back."""
        with probing(self, conn, target) as probe:
            yield probe

    def value_errors_end_transactions(self, conn: Connection) -> bool:
        """SQL Server keeps the transaction after a refused value (XACT_ABORT is off); Babelfish ends it
        on the errors it passes on from PostgreSQL (a value that does not convert, a date or number out
        of range), though not on constraint errors (seen on Babelfish 4.2)."""
        return self.is_babelfish(conn)

    def is_data_error(self, exc: BaseException) -> bool:
        """PEP 249's data errors, SQL states 22xxx (data) and 23xxx (constraints), and the
        errors Babelfish passes on from PostgreSQL under one generic number."""
        if super().is_data_error(exc):
            return True
        orig = getattr(exc, "orig", None) or exc
        state = orig.args[0] if orig.args and isinstance(orig.args[0], str) else ""
        return state[:2] in ("22", "23") or any(words in str(orig) for words in ENGINE_DATA_ERRORS)

    def move_to_backup(self, conn: Connection, schema: str, table: str) -> None:
        """Copied into `bkp` (SELECT INTO) and dropped: no `ALTER SCHEMA ... TRANSFER`."""
        conn.exec_driver_sql(S.select_into(schema, table, BKP_SCHEMA, table))
        conn.exec_driver_sql(S.drop_table(schema, table))

    # -- merge -------------------------------------------------------------------------
    def column_definitions(self, conn: Connection, schema: str | None, table: str) -> list[tuple[str, TypeEngine]]:
        """Read from `sys.columns` (Babelfish answers it as SQL Server does)."""
        found = conn.exec_driver_sql(S.column_types(schema, table))
        return [(name, sql_type(type_name, length, precision, scale))
                for name, type_name, length, precision, scale in found]

    def has_index(self, conn: Connection, place: Place, name: str) -> bool:
        return conn.exec_driver_sql(S.index_id(place.schema, place.table, name)).scalar() is not None

    def create_index(self, conn: Connection, place: Place, name: str, columns: list[str], *, unique: bool) -> None:
        conn.exec_driver_sql(S.create_index(place.schema, place.table, name, columns, unique=unique))

    def drop_index(self, conn: Connection, place: Place, name: str) -> None:
        conn.exec_driver_sql(S.drop_index(place.schema, place.table, name))

    def add_typed_column(self, conn: Connection, place: Place, name: str, type_: TypeEngine) -> None:
        conn.exec_driver_sql(S.add_column(place.schema, place.table, name, type_))

    def create_table_of(self, conn: Connection, place: Place, columns: list[tuple[str, TypeEngine]]) -> None:
        conn.exec_driver_sql(S.create_table_of(place.schema, place.table, [n for n, _ in columns],
                                               [t for _, t in columns]))

    def create_staging(self, conn: Connection, plan: MergePlan) -> None:
        """A table beside the target (the bulk paths' own connections could not see a `#temp`
        table), dropped by the load's transaction."""
        types = dict(self.column_definitions(conn, plan.target.schema, plan.target.table))
        conn.exec_driver_sql(S.drop_table(plan.staging.schema, plan.staging.table, if_exists=True))
        conn.exec_driver_sql(S.create_staging(plan.staging.schema, plan.staging.table, plan.columns,
                                              [types.get(name, self.text_type()) for name in plan.columns]))

    def index_staging(self, conn: Connection, plan: MergePlan) -> None:
        conn.exec_driver_sql(S.create_index(plan.staging.schema, plan.staging.table,
                                            short_name(f"ix_{plan.staging.table}"), [*plan.keys, SEQ_COLUMN],
                                            unique=False))

    def drop_staging(self, conn: Connection, place: Place) -> None:
        conn.exec_driver_sql(S.drop_table(place.schema, place.table))

    def merge_statements(self, conn: Connection, plan: MergePlan) -> MergeSql:
        chars = self.column_chars(conn, plan.target.schema, plan.target.table)
        return MssqlMergeSql(plan, {name for name, width in chars.items() if width})

    def hold_staged_values(self, conn: Connection, plan: MergePlan) -> None:
        """Widen the target's (and its history's) text columns where the staged rows needed NVARCHAR(max)."""
        staged_chars = self.column_chars(conn, plan.staging.schema, plan.staging.table)
        for place in (plan.target, plan.history):
            chars = self.column_chars(conn, place.schema, place.table)
            for name in plan.columns:
                if staged_chars.get(name) == -1 and chars.get(name, 0) > 0:
                    conn.exec_driver_sql(S.widen_column(place.schema, place.table, name))


register(MssqlBackend)
