"""The primitives of a merge every backend has (`Backend` inherits them, and a backend
overrides those its database does its own way): where the staging and history tables go, how
they are made, and the merge's statements in the backend's dialect. The steps themselves, the
same on every database, are `monitor.load.write.merge_steps`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Column, Connection, Engine, Identity, MetaData, Table, text
from sqlalchemy.types import TypeEngine

from monitor.backends.merging import SEQ_COLUMN, MergePlan, MergeSql, Place, short_name, staging_name
from monitor.catalog import BKP_SCHEMA, HISTORY_SUFFIX, LOAD_ID_COLUMN


class MergeTables(ABC):
    """A merge's staging and history tables and statements, over a backend's primitives."""

    engine: Engine
    quote: Callable[[str], str]
    merge_sql: ClassVar[type[MergeSql]] = MergeSql

    @abstractmethod
    def qualified(self, schema: str | None, table: str) -> str:
        """`schema.table`, each part quoted whatever it holds."""

    @abstractmethod
    def text_type(self) -> TypeEngine:
        """The column type a CSV value lands in before typing rules exist."""

    @abstractmethod
    def column_definitions(self, conn: Connection, schema: str | None, table: str) -> list[tuple[str, TypeEngine]]:
        """The table's columns with their types, in order."""

    @abstractmethod
    def create_index(self, conn: Connection, place: Place, name: str, columns: list[str], *, unique: bool) -> None:
        """An index on `columns` of a table."""

    @abstractmethod
    def run_sql(self, conn: Connection, sql: str, *, fetch: bool = False) -> Any:
        """Run one statement on the driver's own cursor: its rows with `fetch`, else the rows it changed."""

    @classmethod
    def history_of(cls, schema: str | None, table: str) -> Place:
        """Where a merge target's history table lives: `bkp.<table>__history`."""
        return Place(BKP_SCHEMA, table + HISTORY_SUFFIX)

    @classmethod
    def staging_of(cls, schema: str | None, table: str, load_id: int) -> Place:
        """Where a merge stages its file: beside the target, dropped in the load's transaction."""
        return Place(schema, staging_name(table, load_id))

    def add_typed_column(self, conn: Connection, place: Place, name: str, type_: TypeEngine) -> None:
        """Add a nullable column of a given type."""
        type_sql = type_.compile(dialect=self.engine.dialect)
        conn.execute(text(f"ALTER TABLE {self.qualified(place.schema, place.table)} ADD {self.quote(name)} {type_sql}"))

    def create_table_of(self, conn: Connection, place: Place, columns: list[tuple[str, TypeEngine]]) -> None:
        """A table of these columns and types (a merge target's history table)."""
        Table(place.table, MetaData(), *(Column(n, t) for n, t in columns), schema=place.schema).create(conn)

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

    def hold_staged_values(self, conn: Connection, plan: MergePlan) -> None:
        """Make the target (and its history) able to hold every staged value before a merge
        (nothing by default: text columns have no width)."""
        return None
