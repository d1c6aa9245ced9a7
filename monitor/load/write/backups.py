"""A fullload's swap and its backups: the filled staging table takes the target's place, the
table it replaces becomes `bkp.<table>`, and the backups before it are kept as
`bkp.<table>__load_<id>`, `keep` versions in all (the oldest dropped). Each backend supplies
the primitives (`lock_target`, `replace_table`, `rename_table`, ...)."""

from __future__ import annotations

import re

from sqlalchemy import Connection

from monitor.backends import Backend
from monitor.backends.base import BACKUP_MARK
from monitor.catalog import BKP_SCHEMA


def swap_in(backend: Backend, conn: Connection, schema: str, table: str, staging: str, keep: int) -> None:
    """Within `conn`'s transaction, make `staging` the new `schema.table`: the current table
    becomes `bkp.<table>` (older backups renamed `<table>__load_<id>`, `keep` versions kept
    in all; none kept with 0). Readers see the old table or the new."""
    backend.lock_target(conn, schema, table)
    if keep and backend.table_exists(conn, schema, table):
        rotate(backend, conn, table, keep)
    backend.replace_table(conn, schema, table, staging, keep_old=keep > 0)


def rotate(backend: Backend, conn: Connection, table: str, keep: int) -> None:
    """Make room for a new `bkp.<table>`: the one there becomes `<table>__load_<id>` (or is
    dropped when only one version is kept), and the oldest beyond `keep - 1` older versions
    are dropped."""
    if backend.table_exists(conn, BKP_SCHEMA, table):
        if keep > 1:
            backend.rename_table(conn, BKP_SCHEMA, table, archive_name(backend, conn, table))
        else:
            backend.drop_table(conn, BKP_SCHEMA, table)
    for _, name in backup_names(backend, conn, table)[max(keep - 1, 0):]:
        backend.drop_table(conn, BKP_SCHEMA, name)


def backup_names(backend: Backend, conn: Connection, table: str) -> list[tuple[int, str]]:
    """Older backups of `table` in `bkp` as (load id, name), newest first."""
    flags = re.IGNORECASE if backend.names_fold_case else 0
    pattern = re.compile(re.escape(table + BACKUP_MARK) + r"(\d+)$", flags)
    found = []
    for name in backend.tables_in(conn, BKP_SCHEMA):
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), name))
    return sorted(found, reverse=True)


def archive_name(backend: Backend, conn: Connection, table: str) -> str:
    """The name `bkp.<table>` takes when a newer backup arrives: `<table>__load_<id>`."""
    load_id = backend.load_id_of(conn, BKP_SCHEMA, table) or 0
    taken = {name for _, name in backup_names(backend, conn, table)}
    name, suffix = f"{table}{BACKUP_MARK}{load_id}", 2
    while name in taken:
        name = f"{table}{BACKUP_MARK}{load_id}{suffix}"
        suffix += 1
    return name
