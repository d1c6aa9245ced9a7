"""Where a refused value ends the transaction (Babelfish): rows tried on a connection of their
own, in a session table of the target's column types, each try rolled back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Connection

from monitor.backends.mssql.fill import FillingBackend
from monitor.backends.mssql.insert_paths import nulls_mapped
from monitor.backends.mssql.statements import PROBE_TABLE, probe_type
from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.backends.target import Target
from monitor.catalog import LOAD_ID_COLUMN


@contextmanager
def probing(backend: FillingBackend, conn: Connection, target: Target) -> Iterator[Callable[[list[list[str]]], None]]:
    """Rows tried on a connection of their own, in a session table of `target`'s column
    types (text columns as NVARCHAR(max): the target widens for long values), every try
    rolled back."""
    kinds = {name: probe_type(type_name, precision, scale) for name, type_name, precision, scale
             in conn.exec_driver_sql(S.column_definitions(target.schema, target.table))}
    columns = [(name, kinds.get(name, "NVARCHAR(max)")) for name in target.columns] + [(LOAD_ID_COLUMN, "BIGINT")]
    with backend.engine.connect() as side:
        side.exec_driver_sql(S.drop_table(None, PROBE_TABLE, if_exists=True))  # a pooled session's last one
        side.exec_driver_sql(S.create_probe(columns))
        side.commit()
        raw, declared = backend.dbapi_connection(side), backend.driver(conn).declares_sizes

        def probe(rows: list[list[str]]) -> None:
            cursor = raw.cursor()
            try:
                for row in nulls_mapped(rows, target.null_values):  # Microsoft's driver: NULLs inline
                    sql = S.insert_values(None, PROBE_TABLE, target.columns, target.load_id, 1,
                                          nulls=[[declared and value is None for value in row]])
                    cursor.execute(sql, [value for value in row if value is not None or not declared])
            finally:
                cursor.close()
                with suppress(Exception):  # the server may have ended the try already
                    raw.rollback()

        try:
            yield probe
        finally:
            side.exec_driver_sql(S.drop_table(None, PROBE_TABLE, if_exists=True))
            side.commit()
