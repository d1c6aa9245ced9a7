"""The T-SQL the SQL Server backend sends, as pure functions of names and values.

Only what SQL Server 2017+, Azure SQL and Babelfish for PostgreSQL all accept, as run on
Babelfish 4.2: renames with `sp_rename N'schema.table', N'new', N'OBJECT'` (Babelfish finds no
object named in brackets or quotes there, so only plain names are renamed this way; see
`renamable`), no `ALTER SCHEMA ... TRANSFER`, no `MERGE`, no `READPAST`, no `NULL` in
`ALTER COLUMN`. Identifiers are bracket-quoted, or double-quoted (`"` doubled) when they hold
a `]` (Babelfish refuses `]]` inside brackets; connections run with QUOTED_IDENTIFIER ON);
strings are N'...' literals (`'` doubled), so any table name is safe. Tests parse each
statement as T-SQL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from sqlalchemy.dialects import mssql
from sqlalchemy.types import TypeEngine

from monitor.backends import views
from monitor.backends.merging import SEQ_COLUMN, MergePlan, MergeSql
from monitor.catalog import LOAD_ID_COLUMN

BINARY_COLLATION = "Latin1_General_BIN2"  # compares text by code point: case, accents, every character
TEXT_CHARS = 4000  # NVARCHAR(4000): the widest non-max NVARCHAR; longer values widen a column to max
LOCK_TIMEOUT_MS = 600_000
BULK_MARK = "__bulk_"
PROBE_TABLE = "#ingest_monitor_probe"

VIEW_SQL = views.ViewSql(
    folder="mssql",
    ago="DATEADD({unit}, -{n}, SYSUTCDATETIME())",
    day="CAST({column} AS date)",
    create="CREATE OR ALTER VIEW {name} AS\n{body}",
    separator=";\nGO\n\n",
)
_DIALECT = mssql.dialect()
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


def applock_resource(schema: str | None, table: str) -> str:
    """The `sp_getapplock` resource of a target (at most 255 characters)."""
    name = f"ingest-monitor:{schema}.{table}" if schema else f"ingest-monitor:{table}"
    if len(name) <= 255:
        return name
    return name[:190] + ":" + hashlib.sha256(name.encode()).hexdigest()


def side_table_name(table: str, load_id: int) -> str:
    """The committed side table a bulk path fills for one load."""
    return f"{table}{BULK_MARK}{int(load_id)}"


def quote(name: str) -> str:
    """`[name]`, or `"name"` (`"` doubled) when the name holds a `]`."""
    if "]" in name:
        return '"' + name.replace('"', '""') + '"'
    return f"[{name}]"


def plain(name: str) -> bool:
    """A name that needs no quoting anywhere and reads the same in any case: lower-case
    ASCII letters, digits and `_`, not starting with a digit."""
    return bool(_PLAIN.fullmatch(name))


def _object_in(catalog: str, schema: str | None, name: str) -> str:
    """The object id of a table or view by its catalog row. Not `OBJECT_ID(name, type)`: on
    Babelfish 4.2 a session keeps an answer of "no such object" until its next commit, so it
    never sees a table another session created meanwhile."""
    owner = f"SCHEMA_ID({literal(schema)})" if schema else "SCHEMA_ID()"
    return f"SELECT o.object_id FROM {catalog} AS o WHERE o.name = {literal(name)} AND o.schema_id = {owner}"


def probe_type(type_name: str, precision: int, scale: int) -> str:
    """The T-SQL type a probe column takes for a target column: text as NVARCHAR(max)."""
    if type_name in ("nvarchar", "nchar", "varchar", "char", "ntext", "text"):
        return "NVARCHAR(max)"
    if type_name in ("decimal", "numeric"):
        return f"DECIMAL({int(precision)}, {int(scale)})"
    if type_name == "datetime2":
        return f"DATETIME2({int(scale)})"
    return type_name.upper()


def renamable(name: str) -> bool:
    """A name Babelfish's `sp_rename` finds and gives: ASCII letters, digits and `_`, not
    starting with a digit (it keeps the new name in lower case)."""
    return bool(_PLAIN.fullmatch(name.lower()))


def literal(value: str) -> str:
    """An N'...' string literal (`'` doubled)."""
    return "N'" + value.replace("'", "''") + "'"


def qualified(schema: str | None, table: str) -> str:
    """`[schema].[table]`."""
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


class MssqlStatements:
    """Every T-SQL statement the backend sends, as pure functions of names and values."""

    trancount = "SELECT @@TRANCOUNT"

    @staticmethod
    def lock_timeout(ms: int) -> str:
        return f"SET LOCK_TIMEOUT {int(ms)}"

    @staticmethod
    def schema_id(schema: str) -> str:
        return f"SELECT SCHEMA_ID({literal(schema)})"

    @staticmethod
    def create_schema(schema: str) -> str:
        return f"CREATE SCHEMA {quote(schema)}"

    @staticmethod
    def initialised(schemas: Sequence[str], tables: Sequence[str], view_names: Sequence[str]) -> str:
        checks = [f"SCHEMA_ID({literal(s)}) IS NOT NULL" for s in schemas]
        checks += [f"EXISTS ({_object_in('sys.tables', None, t)})" for t in tables]
        checks += [f"EXISTS ({_object_in('sys.views', None, v)})" for v in view_names]
        return f"SELECT CASE WHEN {' AND '.join(checks)} THEN 1 ELSE 0 END"

    @staticmethod
    def applock(resource: str, timeout_ms: int = LOCK_TIMEOUT_MS) -> str:
        return (
            "DECLARE @result INT; "
            f"EXEC @result = sp_getapplock @Resource = {literal(resource)}, @LockMode = N'Exclusive', "
            f"@LockOwner = N'Transaction', @LockTimeout = {int(timeout_ms)}; "
            "SELECT @result"
        )

    @staticmethod
    def view_id(view: str) -> str:
        return _object_in("sys.views", None, view)

    @staticmethod
    def create_view(view: str) -> str:
        """A plain CREATE VIEW (the form Babelfish accepts too), for a view that is missing."""
        return VIEW_SQL.create_missing(view, views.body(VIEW_SQL, view))

    @staticmethod
    def drop_view(view: str) -> str:
        return f"DROP VIEW {quote(view)}"

    @staticmethod
    def table_id(schema: str | None, table: str) -> str:
        return _object_in("sys.tables", schema, table)

    @staticmethod
    def index_id(schema: str | None, table: str, index: str) -> str:
        """Found by its name, or by the name Babelfish stores it under: the index's name and
        the table's, cut to 31 characters, then 32 hexadecimal digits (63 at most)."""
        stored = (index + table)[:31]
        length = min(63, len(index) + len(table) + 32)
        return (f"SELECT i.index_id FROM sys.indexes AS i WHERE i.object_id = "
                f"({_object_in('sys.tables', schema, table)}) AND (i.name = {literal(index)} OR "
                f"(LEN(i.name) = {length} AND LEFT(i.name, {len(stored)}) = {literal(stored)}))")

    @staticmethod
    def create_index(schema: str | None, table: str, index: str, columns: Sequence[str], *, unique: bool) -> str:
        """A unique index leaves out rows whose key is NULL (SQL Server counts NULLs as equal)."""
        where = " WHERE " + " AND ".join(f"{quote(c)} IS NOT NULL" for c in columns) if unique else ""
        return (f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote(index)} ON {qualified(schema, table)} "
                f"({', '.join(quote(c) for c in columns)}){where}")

    @staticmethod
    def create_table_of(schema: str | None, table: str, columns: Sequence[str], types: Sequence[TypeEngine]) -> str:
        """A table of exactly these columns (a merge target's history table)."""
        pairs = zip(columns, types, strict=True)
        defs = [f"{quote(name)} {type_.compile(dialect=_DIALECT)} NULL" for name, type_ in pairs]
        return f"CREATE TABLE {qualified(schema, table)} ({', '.join(defs)})"

    @classmethod
    def create_staging(cls, schema: str | None, table: str, columns: Sequence[str], types: Sequence[TypeEngine]) -> str:
        """A merge's staging table: `_seq` numbers the rows as they arrive, then the columns."""
        head = f"CREATE TABLE {qualified(schema, table)} ("
        body = cls.create_table(schema, table, columns, types).removeprefix(head)
        return f"{head}{quote(SEQ_COLUMN)} BIGINT IDENTITY(1, 1) NOT NULL, {body}"

    @staticmethod
    def column_types(schema: str | None, table: str) -> str:
        """Each column's name, type, length in bytes, precision and scale, in order."""
        return (
            "SELECT c.name, t.name AS type_name, c.max_length, c.precision, c.scale FROM sys.columns AS c "
            "JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
            f"WHERE c.object_id = ({_object_in('sys.tables', schema, table)}) ORDER BY c.column_id"
        )

    @staticmethod
    def column_definitions(schema: str | None, table: str) -> str:
        """Each column's name, type name, precision and scale."""
        return (
            "SELECT c.name, t.name AS type_name, c.precision, c.scale FROM sys.columns AS c "
            "JOIN sys.types AS t ON t.user_type_id = c.user_type_id "
            f"WHERE c.object_id = ({_object_in('sys.tables', schema, table)}) ORDER BY c.column_id"
        )

    @staticmethod
    def create_probe(columns: Sequence[tuple[str, str]]) -> str:
        """The session's scratch table `#ingest_monitor_probe` of (name, T-SQL type) columns."""
        return f"CREATE TABLE {PROBE_TABLE} ({', '.join(f'{quote(n)} {t} NULL' for n, t in columns)})"

    @staticmethod
    def tables_in(schema: str) -> str:
        return f"SELECT t.name FROM sys.tables AS t WHERE t.schema_id = SCHEMA_ID({literal(schema)})"

    @staticmethod
    def create_table(schema: str | None, table: str, columns: Sequence[str], types: Sequence[TypeEngine]) -> str:
        pairs = zip(columns, types, strict=True)
        defs = [f"{quote(name)} {type_.compile(dialect=_DIALECT)} NULL" for name, type_ in pairs]
        defs.append(f"{quote(LOAD_ID_COLUMN)} BIGINT NULL")
        return f"CREATE TABLE {qualified(schema, table)} ({', '.join(defs)})"

    @staticmethod
    def add_column(schema: str | None, table: str, column: str, type_: TypeEngine | None = None) -> str:
        type_sql = type_.compile(dialect=_DIALECT) if type_ is not None else f"NVARCHAR({TEXT_CHARS})"
        return f"ALTER TABLE {qualified(schema, table)} ADD {quote(column)} {type_sql} NULL"

    @staticmethod
    def widen_column(schema: str | None, table: str, column: str) -> str:
        # no NULL: Babelfish refuses it in ALTER COLUMN; the column stays nullable (as created)
        return f"ALTER TABLE {qualified(schema, table)} ALTER COLUMN {quote(column)} NVARCHAR(max)"

    @staticmethod
    def drop_table(schema: str | None, table: str, *, if_exists: bool = False) -> str:
        return f"DROP TABLE {'IF EXISTS ' if if_exists else ''}{qualified(schema, table)}"

    @staticmethod
    def drop_index(schema: str | None, table: str, index: str) -> str:
        return f"DROP INDEX {quote(index)} ON {qualified(schema, table)}"

    @staticmethod
    def _insert_head(schema: str | None, table: str, columns: Sequence[str], tablock: bool) -> str:
        names = ", ".join(quote(name) for name in [*columns, LOAD_ID_COLUMN])
        return f"INSERT INTO {qualified(schema, table)}{' WITH (TABLOCK)' if tablock else ''} ({names})"

    @classmethod
    def insert_row(cls, schema: str | None, table: str, columns: Sequence[str], load_id: int,
                   *, tablock: bool = False) -> str:
        """One row of parameters (for executemany); the load id is a literal."""
        values = ", ".join(["?"] * len(columns) + [str(int(load_id))])
        return f"{cls._insert_head(schema, table, columns, tablock)} VALUES ({values})"

    @classmethod
    def insert_values(cls, schema: str | None, table: str, columns: Sequence[str], load_id: int, rows: int,
                      *, tablock: bool = False) -> str:
        """`rows` rows of parameters in one statement."""
        row = "(" + ", ".join(["?"] * len(columns) + [str(int(load_id))]) + ")"
        return f"{cls._insert_head(schema, table, columns, tablock)} VALUES {', '.join([row] * rows)}"

    @classmethod
    def insert_json(cls, schema: str | None, table: str, columns: Sequence[str], load_id: int,
                    *, tablock: bool = False) -> str:
        """Rows from one JSON parameter (an array of arrays of text or null), by position."""
        fields = ", ".join(f"c{i}" for i in range(len(columns)))
        shape = ", ".join(f"c{i} NVARCHAR({TEXT_CHARS}) '$[{i}]'" for i in range(len(columns)))  # no N: Babelfish
        return (f"{cls._insert_head(schema, table, columns, tablock)} "
                f"SELECT {fields}, {int(load_id)} FROM OPENJSON(?) WITH ({shape})")

    @classmethod
    def insert_select(cls, schema: str | None, table: str, source_schema: str | None, source: str,
                      columns: Sequence[str], *, tablock: bool = False) -> str:
        names = ", ".join(quote(name) for name in [*columns, LOAD_ID_COLUMN])
        return (f"{cls._insert_head(schema, table, columns, tablock)} "
                f"SELECT {names} FROM {qualified(source_schema, source)}")

    @staticmethod
    def count_rows(schema: str | None, table: str) -> str:
        return f"SELECT COUNT_BIG(*) FROM {qualified(schema, table)}"

    @staticmethod
    def rows_of_load(schema: str | None, table: str, load_id: int) -> str:
        return f"SELECT COUNT_BIG(*) FROM {qualified(schema, table)} WHERE {quote(LOAD_ID_COLUMN)} = {int(load_id)}"

    @staticmethod
    def max_load_id(schema: str | None, table: str) -> str:
        return f"SELECT MAX({quote(LOAD_ID_COLUMN)}) FROM {qualified(schema, table)}"

    @staticmethod
    def server_version() -> str:
        return "SELECT CAST(@@VERSION AS NVARCHAR(4000))"

    @staticmethod
    def babelfish() -> str:
        return "SELECT CAST(SERVERPROPERTY('babelfish') AS int)"

    @staticmethod
    def quoted_identifiers_on() -> str:
        return "SET QUOTED_IDENTIFIER ON"

    @staticmethod
    def select_into(source_schema: str, source: str, schema: str, table: str) -> str:
        return f"SELECT * INTO {qualified(schema, table)} FROM {qualified(source_schema, source)}"

    @staticmethod
    def rename(schema: str, table: str, new_name: str) -> str:
        """`sp_rename` of a table: the object named `schema.table` unquoted when both are plain
        (the one form Babelfish finds), bracketed otherwise (SQL Server); the third argument
        is needed by Babelfish and accepted by SQL Server."""
        name = f"{schema}.{table}" if renamable(schema) and renamable(table) else qualified(schema, table)
        return f"EXEC sp_rename {literal(name)}, {literal(new_name)}, N'OBJECT'"



class MssqlMergeSql(MergeSql):
    """A merge in T-SQL, without `MERGE` (Babelfish refuses it; on SQL Server it has known
    concurrency traps): `UPDATE ... FROM` and `INSERT ... WHERE NOT EXISTS`, the target read
    `WITH (UPDLOCK, HOLDLOCK)` so that no other writer slips a key in between (the load also
    holds the target's application lock). Keys match as the column's collation compares them;
    values are compared exactly (text in a binary collation and by length, since `=` ignores
    case in the default collations and trailing spaces in all of them)."""

    now_utc = "SYSUTCDATETIME()"
    blank = "LTRIM(RTRIM({column})) = N''"  # (rows reach SQL Server through the reader, keys checked)

    def __init__(self, plan: MergePlan, text_columns: set[str]) -> None:
        super().__init__(quote, plan)
        self.text_columns = text_columns

    def value_differs(self, column: str, left: str, right: str) -> str:
        a, b = f"{left}.{quote(column)}", f"{right}.{quote(column)}"
        if column in self.text_columns:
            unequal = (f"{a} COLLATE {BINARY_COLLATION} <> {b} COLLATE {BINARY_COLLATION} "
                       f"OR DATALENGTH({a}) <> DATALENGTH({b})")
        else:
            unequal = f"{a} <> {b}"
        return f"({unequal} OR ({a} IS NULL AND {b} IS NOT NULL) OR ({a} IS NOT NULL AND {b} IS NULL))"

    def limit(self, select: str, rows: int) -> str:
        head = "SELECT DISTINCT " if select.startswith("SELECT DISTINCT ") else "SELECT "
        return f"{head}TOP ({int(rows)}) {select[len(head):]}"

    def drop_superseded(self) -> str:
        return f"DELETE s FROM {self.name(self.plan.staging)} AS s WHERE {self._later()}"

    def _target_read(self) -> str:
        return f"{self.name(self.plan.target)} AS t WITH (UPDLOCK, HOLDLOCK)"

    def update(self) -> str:
        plan = self.plan
        sets = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in [*plan.values, *plan.keys])
        return (f"UPDATE t SET {sets}, {quote(LOAD_ID_COLUMN)} = {int(plan.load_id)} "
                f"FROM {self.name(plan.target)} AS t WITH (UPDLOCK, SERIALIZABLE) "
                f"INNER JOIN {self.name(plan.staging)} AS s ON {self.keys_match('t', 's')} WHERE {self.differs()}")
