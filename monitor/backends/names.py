"""The names a load makes for its tables, against the database's identifier length, and the
system column names no table may take again (both declared on each backend class)."""

from __future__ import annotations

from monitor.backends.base import BACKUP_MARK, Backend

# PostgreSQL's system columns, which no table may name again (`oid` only before PostgreSQL 12);
# Babelfish keeps SQL Server's tables in PostgreSQL, so they hold there too.
SYSTEM_COLUMNS = frozenset({"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "oid"})


def names_made_for(backend: Backend, table: str, load_id: int, *, staged: bool) -> list[str]:
    """Every table name a load into `table` makes: with `staged` (a fullload's, a merge's) its
    staging table and backup too, and the side table of the table its rows go into where the
    backend fills one (`Backend.side_table_mark`)."""
    made = [table, backend.staging_name(table, load_id), f"{table}{BACKUP_MARK}{load_id}"] if staged else [table]
    if backend.side_table_mark:
        made.append(f"{made[1] if staged else table}{backend.side_table_mark}{load_id}")
    return made


def table_name_problem(backend: Backend, table: str, load_id: int, *, staged: bool) -> str | None:
    """Why a load into `table` cannot name its tables on this database (one would be longer
    than its identifiers, which it would cut or refuse), or None."""
    if backend.max_identifier_bytes is None:
        return None
    for name in names_made_for(backend, table, load_id, staged=staged):
        size = len(name.encode("utf-8"))
        if size > backend.max_identifier_bytes:
            return (f"the table name {table!r} is too long for {backend.label}: the load makes a table named "
                    f"{name!r}, {size} bytes, and {backend.label} allows {backend.max_identifier_bytes} "
                    "(shorten `table` in the folder rule)")
    return None
