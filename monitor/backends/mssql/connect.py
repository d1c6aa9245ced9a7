"""Connecting to SQL Server as users write the URL, whatever the driver and the engine.

- A port written `host:1433` reaches the server through every driver: Microsoft's ODBC
  driver and mssql-python read `Server=host,1433` (what SQLAlchemy renders), FreeTDS reads
  only a separate `Port=1433`, and mssql-python refuses a `port=` key (`?port=1433`, the
  form FreeTDS users write) — each URL is turned into the form its driver reads.
- SQLAlchemy declares parameter sizes to pyodbc, 0 for NVARCHAR(max); FreeTDS refuses a size
  of 0 ("Invalid string or buffer length"), so FreeTDS engines leave the sizes to pyodbc.
- Microsoft's ODBC driver (under pyodbc, and inside mssql-python) asks the server for the type
  of every NULL parameter (`SQLDescribeParam`, `sp_describe_undeclared_parameters`);
  Babelfish 4.2 cannot describe an UPDATE whose WHERE names `table.column`, and that failure
  silently ends the transaction (the statements before it are rolled back, the ones after run
  in a new one). So on those engines a NULL parameter is sent as a literal NULL (`?` or
  `%(name)s` outside quotes replaced, the driver's declared sizes kept for the others).
- mssql-python's SQLAlchemy dialect reads the server's version from `@@VERSION` and knows
  only SQL Server's banner; on Babelfish it finds none and fails while connecting. The
  dialect registered here (`mssql+mssqlpython` URLs are mapped to it) takes the version from
  `SERVERPROPERTY('ProductVersion')` when the banner does not say it.
- Babelfish ends the transaction on most errors (as SQL Server does under `XACT_ABORT ON`);
  the rollback SQLAlchemy then sends fails with "ROLLBACK can only be used in transaction
  blocks" and hides the error that mattered. Both dialects here take a rollback with nothing
  to roll back as done.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.mssql.mssqlpython import MSDialect_mssqlpython
from sqlalchemy.dialects.mssql.pyodbc import MSDialect_pyodbc
from sqlalchemy.engine import URL, Connection, Engine

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)\.(\d+)")
NOTHING_TO_ROLL_BACK = "can only be used in transaction blocks"  # Babelfish's 3903, "no BEGIN TRANSACTION"


class _RollbackWhenThereIsOne:
    """A rollback the server answers "no transaction" to is a rollback done."""

    def do_rollback(self, dbapi_connection: Any) -> None:
        try:
            super().do_rollback(dbapi_connection)  # type: ignore[misc]
        except Exception as exc:  # the driver's own error class
            if NOTHING_TO_ROLL_BACK not in str(exc):
                raise


class PyodbcAnyEngineDialect(_RollbackWhenThereIsOne, MSDialect_pyodbc):
    """pyodbc's dialect for any SQL Server engine."""

    supports_statement_cache = True  # as its parent's: only the rollback and the sizes kept differ

    def do_set_input_sizes(self, cursor: Any, list_of_tuples: list[tuple[str, Any, Any]], context: Any) -> None:
        """Keep the declared sizes on the context, so `nulls_inline` can declare them again
        without the parameters it wrote into the statement."""
        context.ingest_input_sizes = [dbtype if isinstance(dbtype, tuple) else (dbtype, None, None)
                                      for _, dbtype, _ in list_of_tuples]
        super().do_set_input_sizes(cursor, list_of_tuples, context)


class AnyEngineDialect(_RollbackWhenThereIsOne, MSDialect_mssqlpython):
    """mssql-python's dialect, reading the version of any SQL Server engine (Babelfish too)."""

    supports_statement_cache = True  # as its parent's: only the version lookup and the rollback differ

    def _get_server_version_info(self, connection: Any) -> tuple[int, ...] | None:
        found = super()._get_server_version_info(connection)
        if found:
            return found
        raw = connection.exec_driver_sql("SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))").scalar()
        match = _VERSION.search(str(raw or ""))
        return tuple(int(part) for part in match.groups()) if match else None


registry.register("mssql.mssqlpython_any_engine", __name__, "AnyEngineDialect")
registry.register("mssql.pyodbc_any_engine", __name__, "PyodbcAnyEngineDialect")


def is_freetds(url: URL) -> bool:
    """A pyodbc URL whose ODBC driver is FreeTDS (by name or library file)."""
    driver = str(url.query.get("driver", "")).lower()
    return "freetds" in driver or "tdsodbc" in driver


def driver_url(url: URL) -> URL:
    """The URL in the form its driver reads (see the module docstring)."""
    query = {key: value for key, value in url.query.items()}
    port_key = next((key for key in query if key.lower() == "port"), None)
    if url.get_driver_name() == "mssqlpython":
        if port_key is not None:
            url = url.set(port=int(str(query.pop(port_key))), query=query)
        return url.set(drivername="mssql+mssqlpython_any_engine")
    if url.get_driver_name() in ("pyodbc", ""):
        if is_freetds(url) and url.port is not None and port_key is None:
            url = URL.create(url.drivername, url.username, url.password, url.host, None, url.database,
                             {**query, "port": str(url.port)})
        return url.set(drivername="mssql+pyodbc_any_engine")
    return url


def describes_null_parameters(url: URL) -> bool:
    """Whether the URL's driver is Microsoft's ODBC driver, which asks the server to describe
    NULL parameters (mssql-python, and pyodbc with any ODBC driver but FreeTDS)."""
    return url.get_driver_name() == "mssqlpython" or (
        url.get_driver_name() in ("pyodbc", "") and not is_freetds(url))


def mssql_engine(url: URL, **options: Any) -> Engine:
    """An engine on a SQL Server URL, in its driver's form, with its driver's options."""
    if url.get_driver_name() == "pyodbc" and is_freetds(url):
        options.setdefault("use_setinputsizes", False)
    engine = create_engine(driver_url(url), **options)
    if describes_null_parameters(url):
        event.listen(engine, "before_cursor_execute", nulls_inline, retval=True)
    return engine


def drop_database(conn: Connection, name: str) -> None:
    """Drop a database after ending the sessions still in it (`KILL`: SQL Server and Babelfish
    alike; Babelfish has no `SINGLE_USER`). `conn` is in autocommit, outside that database."""
    sessions = conn.exec_driver_sql(
        f"SELECT session_id FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'{name}') "
        "AND session_id <> @@SPID").scalars().all()
    for session in sessions:
        conn.exec_driver_sql(f"KILL {int(session)}")
    conn.exec_driver_sql(f"DROP DATABASE [{name}]")


def nulls_inline(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> tuple[str, Any]:
    """A statement with its NULL parameters written as NULL: named `%(name)s` parameters
    (mssql-python; SQLAlchemy doubles every other `%` in the text, so the tokens are exact) or
    positional `?` markers outside quotes (pyodbc), of one execution."""
    if executemany or not parameters:
        return statement, parameters
    if isinstance(parameters, dict):
        if None not in parameters.values():
            return statement, parameters
        for name in [key for key, value in parameters.items() if value is None]:
            statement = statement.replace(f"%({name})s", "NULL")
            del parameters[name]
        return statement, parameters
    values = list(parameters)
    if None not in values:
        return statement, parameters
    markers = question_marks(statement)
    if len(markers) != len(values):  # not a statement read here: leave it as it is
        return statement, parameters
    for position in reversed([at for at, value in zip(markers, values, strict=True) if value is None]):
        statement = statement[:position] + "NULL" + statement[position + 1:]
    sizes = getattr(context, "ingest_input_sizes", None)
    if sizes is not None and len(sizes) == len(values):
        cursor.setinputsizes([size for size, value in zip(sizes, values, strict=True) if value is not None])
    return statement, type(parameters)(value for value in values if value is not None)


def question_marks(statement: str) -> list[int]:
    """Where the `?` parameter markers are: outside '...' strings, "..." and [...] names and
    comments."""
    found: list[int] = []
    i, n = 0, len(statement)
    closing = {"'": "'", '"': '"', "[": "]"}
    while i < n:
        ch = statement[i]
        if ch in closing:
            end = statement.find(closing[ch], i + 1)
            while end != -1 and ch != "[" and statement[end + 1:end + 2] == ch:  # a doubled quote
                end = statement.find(ch, end + 2)
            while end != -1 and ch == "[" and statement[end + 1:end + 2] == "]":  # ]] inside brackets
                end = statement.find("]", end + 2)
            i = n if end == -1 else end + 1
        elif statement.startswith("--", i):
            end = statement.find("\n", i)
            i = n if end == -1 else end + 1
        elif statement.startswith("/*", i):
            end = statement.find("*/", i + 2)
            i = n if end == -1 else end + 2
        else:
            if ch == "?":
                found.append(i)
            i += 1
    return found
