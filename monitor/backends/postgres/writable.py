"""Which PostgreSQL database this is (for the instance lock), and whether it lets the
loader write: the database not read-only (a standby, or `default_transaction_read_only`),
the role allowed to create tables in the schemas a load writes to (and to create those
schemas), and to write the daemon's own tables."""

from __future__ import annotations

from sqlalchemy import Connection, text

from monitor.errors import first_line

READ_ONLY = "25006"  # read_only_sql_transaction
DENIED = "42501"  # insufficient_privilege


def refusal(exc: BaseException) -> str | None:
    """A named cause when `exc` is PostgreSQL refusing a write (read-only, permission denied)."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None)
    if state == READ_ONLY:
        return f"the database is read-only: {first_line(orig)}"
    if state == DENIED:
        return f"the loader's role may not write: {first_line(orig)}"
    return None


def problem(conn: Connection, schemas: tuple[str, ...], own_table: str) -> str | None:
    """Why the loader may not write now, named; None when it may."""
    row = conn.execute(text(
        "SELECT current_setting('transaction_read_only') = 'on', pg_is_in_recovery(), current_user, "
        "current_database(), has_database_privilege(current_database(), 'CREATE')")).one()
    read_only, standby, role, database, create_schemas = row
    if standby:
        return f"the database {database} is a read-only standby (in recovery): no file can load"
    if read_only:
        return (f"the database {database} is read-only (default_transaction_read_only is on): no file can load; "
                f"ALTER DATABASE {database} SET default_transaction_read_only = off, then reconnect")
    for schema in schemas:
        allowed = conn.execute(text("SELECT has_schema_privilege(oid, 'CREATE') FROM pg_namespace "
                                    "WHERE nspname = :name"), {"name": schema}).scalar()
        if allowed is None and not create_schemas:
            return (f"the loader's role {role} may not create the schema {schema} "
                    f"(GRANT CREATE ON DATABASE {database} TO {role}, or run `init-db` as a role that may)")
        if allowed is False:
            return (f"the loader's role {role} may not create tables in the schema {schema} "
                    f"(GRANT CREATE ON SCHEMA {schema} TO {role})")
    for privilege in ("INSERT", "UPDATE"):
        allowed = conn.execute(text("SELECT has_table_privilege(to_regclass(:name), :privilege)"),
                               {"name": own_table, "privilege": privilege}).scalar()
        if allowed is False:
            return (f"the loader's role {role} may not {privilege} the daemon's table {own_table} "
                    f"(GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schemas[0]} TO {role})")
    return None


def identity(conn: Connection) -> str:
    """`postgresql:<system identifier>:<port>/<database>` (the server's own address when the
    cluster's identifier cannot be read)."""
    row = conn.execute(text("SELECT inet_server_addr()::text, inet_server_port(), current_database()")).one()
    try:
        with conn.begin_nested():
            system = conn.execute(text("SELECT system_identifier FROM pg_control_system()")).scalar()
    except Exception:  # not allowed for this role: the address serves
        system = None
    return f"postgresql:{system or row[0] or 'local'}:{row[1] or 5432}/{row[2]}"
