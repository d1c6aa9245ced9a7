"""Which SQL Server database this is (for the instance lock), and whether it lets the loader
write: the database not read-only, the user allowed to create tables in the schemas a load
writes to (and to create those schemas), and to write the daemon's own table.

A driver error is read by the server's error number (pyodbc: `... (229) (SQLExecDirectW)`) or,
where the driver drops it (mssql-python) or the server is Babelfish (PostgreSQL's words under
one generic number), by its words. Babelfish answers `HAS_PERMS_BY_NAME` for a database or a
schema 0 for every user but `dbo`, whatever was granted: there PostgreSQL's own privileges are
asked. A question the engine cannot answer (an error, NULL) says nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from monitor.catalog import BKP_SCHEMA, REF_SCHEMA

DEFAULT_PORT = 1433
OWN_TABLE = "ingest_files"
READ_ONLY = "the database is read-only"
DENIED = "the loader's user may not write"
# The server's numbers for a refused write: 3906 a read-only database, 229/230 a permission on an
# object/column, 262 a permission in the database (CREATE TABLE), 2760 a schema missing or not allowed.
REFUSED_NUMBERS = {3906: READ_ONLY, 229: DENIED, 230: DENIED, 262: DENIED, 2760: DENIED}
REFUSED_WORDS = (  # the same refusals in SQL Server's words, and PostgreSQL's (Babelfish)
    (re.compile(r"because the database is read-only|in a read-only transaction", re.I), READ_ONLY),
    (re.compile(r"permission was denied on the (object|column)|permission denied (in database|for )"
                r"|schema name .* either does not exist or you do not have permission|must be owner of", re.I),
     DENIED),
)
_RECORD = re.compile(r"^(?:\[[^\]]*\]\s*)*(?P<said>.*?)(?:\s*\((?P<number>\d+)\))?(?:\s*\(SQL\w*\))?\s*$", re.S)


class Questions(NamedTuple):
    """How an engine is asked (each answer an int: 1 yes, 0 no; NULL or no row: it cannot tell)."""

    read_only: str
    create_tables: str | None  # in the database; None: asked per schema
    create_in_schema: str  # :schema
    create_schema: str
    write_table: str  # :schema, :table, :privilege; no row when there is no such table


SQL_SERVER = Questions(
    read_only="SELECT CASE CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS nvarchar(60)) "
              "WHEN 'READ_ONLY' THEN 1 ELSE 0 END",
    create_tables="SELECT HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE')",
    create_in_schema="SELECT HAS_PERMS_BY_NAME(:schema, 'SCHEMA', 'ALTER')",
    create_schema="SELECT HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE SCHEMA')",
    write_table="SELECT HAS_PERMS_BY_NAME(QUOTENAME(:schema) + '.' + QUOTENAME(:table), 'OBJECT', :privilege) "
                "WHERE OBJECT_ID(QUOTENAME(:schema) + '.' + QUOTENAME(:table), 'U') IS NOT NULL",
)
_BABELFISH_SCHEMA = "FROM sys.babelfish_namespace_ext AS e WHERE e.orig_name = :schema AND e.dbid = DB_ID()"
BABELFISH = Questions(
    read_only="SELECT CAST(pg_is_in_recovery() AS int) + CASE current_setting(CAST('transaction_read_only' AS text)) "
              "WHEN 'on' THEN 1 ELSE 0 END",
    create_tables=None,  # a table is created with PostgreSQL's CREATE on its schema
    create_in_schema=f"SELECT CAST(has_schema_privilege(CAST(e.nspname AS text), CAST('CREATE' AS text)) AS int) "
                     f"{_BABELFISH_SCHEMA}",
    create_schema="SELECT CAST(has_database_privilege(CAST(current_database() AS text), CAST('CREATE' AS text)) "
                  "AS int)",
    write_table="SELECT CAST(has_table_privilege(c.oid, CAST(:privilege AS text)) AS int) "
                "FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace "
                "JOIN sys.babelfish_namespace_ext AS e ON e.nspname = n.nspname WHERE e.orig_name = :schema "
                "AND e.dbid = DB_ID() AND c.relname = :table",
)


def refusal(exc: BaseException) -> str | None:
    """A named cause when `exc` is SQL Server refusing a write (read-only, permission denied)."""
    orig = getattr(exc, "orig", None) or exc
    message = getattr(orig, "ddbc_error", None)  # mssql-python: the server's message, without its number
    if not isinstance(message, str):
        args: tuple[object, ...] = getattr(orig, "args", ())
        message = args[1] if len(args) > 1 and isinstance(args[1], str) else str(orig)  # pyodbc: (state, message)
    for record in re.split(r";\s*(?=\[)", message.strip()):  # pyodbc joins the server's messages with "; "
        found = _RECORD.match(record.strip())
        said = found["said"] if found else record
        number = int(found["number"]) if found and found["number"] else None
        cause = REFUSED_NUMBERS.get(number) if number is not None else None
        cause = cause or next((named for words, named in REFUSED_WORDS if words.search(said)), None)
        if cause:
            return f"{cause}: {said.strip().splitlines()[0]}"
    return None


def problem(engine: Engine, default_schema: str, is_babelfish: Callable[[Connection], bool]) -> str | None:
    """Why the loader may not write now, named; None when it may (or the engine cannot tell)."""
    with engine.connect() as conn:
        database, user, login = conn.execute(text("SELECT DB_NAME(), USER_NAME(), SUSER_SNAME()")).one()
        babelfish = is_babelfish(conn)
        ask = BABELFISH if babelfish else SQL_SERVER
        who, where = f"the loader's user {user} (login {login})", f"in the database {database}"
        grant = f"in {database}: GRANT {{}} TO {_bracket(user)}"
        if _asked(conn, ask.read_only):
            return _read_only(conn, database, babelfish)
        if ask.create_tables and _asked(conn, ask.create_tables) == 0:
            return f"{who} may not create tables {where} ({grant.format('CREATE TABLE')})"
        for schema in dict.fromkeys((default_schema, REF_SCHEMA, BKP_SCHEMA)):
            if _asked(conn, "SELECT SCHEMA_ID(:schema)", schema=schema) is None:
                if _asked(conn, ask.create_schema) == 0:
                    fix = "" if babelfish else f"{grant.format('CREATE SCHEMA')}, or "
                    return f"{who} may not create the schema {schema} {where} ({fix}run `init-db` as a login that may)"
            elif _asked(conn, ask.create_in_schema, schema=schema) == 0:
                fix = (_babelfish_grant(conn, schema) if babelfish
                       else grant.format(f"ALTER ON SCHEMA::{_bracket(schema)}"))
                return f"{who} may not create tables in the schema {schema} {where} ({fix})"
        for privilege in ("INSERT", "UPDATE"):
            if _asked(conn, ask.write_table, schema=default_schema, table=OWN_TABLE, privilege=privilege) == 0:
                return (f"{who} may not {privilege} the daemon's table {default_schema}.{OWN_TABLE} {where} "
                        f"({grant.format(f'SELECT, INSERT, UPDATE ON SCHEMA::{_bracket(default_schema)}')})")
    return None


def _read_only(conn: Connection, database: str, babelfish: bool) -> str:
    if babelfish:
        return (f"the database {database} is read-only (Babelfish's PostgreSQL is a standby, or "
                "default_transaction_read_only is on): no file can load")
    if _asked(conn, "SELECT CAST(is_read_only AS int) FROM sys.databases WHERE database_id = DB_ID()"):
        return (f"the database {database} is read-only: no file can load; "
                f"ALTER DATABASE {_bracket(database)} SET READ_WRITE")
    return (f"the database {database} is read-only (a readable secondary replica or a snapshot): no file can load; "
            "point database_url at the primary database")


def _babelfish_grant(conn: Connection, schema: str) -> str:
    """Babelfish has no GRANT CREATE TABLE or ALTER ON SCHEMA: PostgreSQL's grant, on its own names."""
    namespace = _asked(conn, f"SELECT e.nspname {_BABELFISH_SCHEMA}", schema=schema)
    role = _asked(conn, "SELECT rolname FROM sys.babelfish_authid_user_ext "
                        "WHERE orig_username = USER_NAME() AND database_name = DB_NAME()")
    return f"connect as the database's owner, or in PostgreSQL: GRANT CREATE ON SCHEMA {namespace} TO {role}"


def identity(engine: Engine) -> str:
    """`mssql:<server name>:<port>/<database>`: the server's name for itself (`@@SERVERNAME`,
    an instance's included) and the database's, and the URL's port (1433 when it has none)."""
    with engine.connect() as conn:
        server, database = conn.execute(text(
            "SELECT COALESCE(@@SERVERNAME, CAST(SERVERPROPERTY('ServerName') AS nvarchar(256))), DB_NAME()")).one()
    return f"mssql:{server or engine.url.host or 'local'}:{port(engine.url)}/{database}"


def port(url: URL) -> int:
    """The port a URL reaches: `host:port`, `?port=` (FreeTDS's form), else 1433."""
    if url.port:
        return url.port
    given = next((value for key, value in url.query.items() if key.lower() == "port"), None)
    return int(str(given)) if given and str(given).isdigit() else DEFAULT_PORT


def _asked(conn: Connection, sql: str, **params: str) -> object:
    """The first value of the first row; None when there is none, or the engine refuses the
    question (a function it lacks)."""
    try:
        return conn.execute(text(sql), params).scalar()
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        conn.rollback()  # Babelfish ends the transaction on an error
        return None


def _bracket(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"
