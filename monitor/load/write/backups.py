"""A fullload's swap and its backups. The table keeps its identity: the new snapshot's rows
move into `ref.<t>`, so what people built on it stays (views, grants, indexes, constraints,
foreign keys, triggers, comments, row-level security); its previous rows become
`bkp.<table>`, and the backups before it are kept as `bkp.<table>__load_<id>`, `keep`
versions in all (the oldest dropped). Each backend supplies the primitives (`lock_target`,
`rename_table`, ..., and its `swap_forms`).

In order, inside the load's transaction, the target locked:

1. a first load has nothing to keep: the staging table is renamed into place;
2. the current rows are copied into `bkp.<t>__swap_<id>` (the backup this swap makes);
3. `commit_step`: where the target's file and `bkp`'s commit one by one (SQLite's attached
   files) what is done so far commits here, so `bkp` holds the previous rows before `ref`
   changes; nothing where one transaction spans both;
4. the lock on `ref.<t>` is asked for with a short lock timeout, retried (`readers`); the
   table gets the staging table's columns, is emptied and filled from it; the staging table
   is dropped;
5. the backups rotate and `<t>__swap_<id>` becomes `bkp.<t>`: in the same transaction, or,
   where files commit one by one, once the load committed (`settle`, from `leftovers`), so
   that `bkp` never changes in a commit that `ref` may miss.

After a crash between two commits, a `__swap_` table says which: holding the rows `ref.<t>`
still holds (the same load id), `ref` never changed and it is dropped; else `ref` holds the
new rows and it becomes `bkp.<t>`. `settle` runs that rule before every swap, when a load
ends, and at start.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

from sqlalchemy import Connection

from monitor.backends import Backend
from monitor.backends.base import BACKUP_MARK, STAGING_MARK
from monitor.backends.merging import Place
from monitor.backends.swap import SWAP_MARK, SwapForms
from monitor.catalog import BKP_SCHEMA, LOAD_ID_COLUMN
from monitor.load.write.readers import SwapWait, wait_for_readers

log = logging.getLogger("monitor.swap")
PAUSE_ENV = "INGEST_MONITOR_SWAP_PAUSE"  # "<step>:<file>": stop at a step (crash tests), the file says so


def swap_in(backend: Backend, conn: Connection, schema: str, table: str, staging: str, keep: int,
            wait: SwapWait | None = None) -> None:
    """Within `conn`'s transaction, the filled `staging` becomes the rows of `schema.table`,
    the table kept (module docstring). Readers see the old rows or the new."""
    forms, wait = backend.swap_forms(backend), wait or SwapWait()
    backend.lock_target(conn, schema, table)
    for line in settle(backend, conn, schema, table, keep):
        log.warning("before the swap of %s.%s, one a crash interrupted: %s", schema, table, line)
    if not backend.table_exists(conn, schema, table):
        backend.rename_table(conn, schema, staging, table)
        return
    pending = Place(BKP_SCHEMA, f"{table}{SWAP_MARK}{int(staging.rsplit(STAGING_MARK, 1)[1])}")
    if keep:
        backend.drop_table(conn, pending.schema, pending.table)
        forms.copy_table(conn, Place(schema, table), pending)
    forms.commit_step(conn)
    pause_point("backup-copied")
    target, source = Place(schema, table), Place(schema, staging)
    new, old = backend.columns_of(conn, schema, staging), backend.columns_of(conn, schema, table)
    wait_for_readers(forms, conn, target, wait, exclusive=set(new) != set(old))
    _same_columns(backend, forms, conn, target, source, old)
    forms.replace_rows(conn, target, source, new)
    backend.drop_table(conn, schema, staging)
    if not keep:
        _drop_backups(backend, forms, conn, table, wait)
    elif not forms.commits_in_steps:
        rotate(backend, conn, table, keep, wait)
        backend.rename_table(conn, BKP_SCHEMA, pending.table, table)


def _same_columns(backend: Backend, forms: SwapForms, conn: Connection, target: Place, source: Place,
                  old: list[str]) -> None:
    """Give the target the staging table's columns: new ones added (at the end), gone ones dropped."""
    types = dict(backend.column_definitions(conn, source.schema, source.table))
    for name, type_ in types.items():
        if name not in old:
            backend.add_typed_column(conn, target, name, type_)
    for name in old:
        if name not in types and name != LOAD_ID_COLUMN:
            forms.drop_column(conn, target, name)


def settle(backend: Backend, conn: Connection, schema: str, table: str, keep: int = 1) -> list[str]:
    """Finish or undo the swaps of `table` a crash (or the commit in steps) left between their
    commits (the module docstring's rule); what was done, said for the log."""
    done = []
    for load_id, name in _marked(backend, conn, table, SWAP_MARK):
        if backend.load_id_of(conn, BKP_SCHEMA, name) == backend.load_id_of(conn, schema, table):
            backend.drop_table(conn, BKP_SCHEMA, name)
            done.append(f"{BKP_SCHEMA}.{name} dropped: the swap of load {load_id} never changed {schema}.{table}")
            continue
        rotate(backend, conn, table, max(keep, 1))
        backend.rename_table(conn, BKP_SCHEMA, name, table)
        done.append(f"{BKP_SCHEMA}.{name} became {BKP_SCHEMA}.{table}: the swap of load {load_id} changed "
                    f"{schema}.{table}")
    return done


def rotate(backend: Backend, conn: Connection, table: str, keep: int, wait: SwapWait | None = None) -> None:
    """Make room for a new `bkp.<table>`: the one there becomes `<table>__load_<id>` (or is
    dropped when only one version is kept), and the oldest beyond `keep - 1` older versions
    are dropped; each after its readers (`readers`)."""
    forms, wait = backend.swap_forms(backend), wait or SwapWait()
    if backend.table_exists(conn, BKP_SCHEMA, table):
        wait_for_readers(forms, conn, Place(BKP_SCHEMA, table), wait, exclusive=True)
        if keep > 1:
            backend.rename_table(conn, BKP_SCHEMA, table, archive_name(backend, conn, table))
        else:
            backend.drop_table(conn, BKP_SCHEMA, table)
    for _, name in backup_names(backend, conn, table)[max(keep - 1, 0):]:
        wait_for_readers(forms, conn, Place(BKP_SCHEMA, name), wait, exclusive=True)
        backend.drop_table(conn, BKP_SCHEMA, name)


def _drop_backups(backend: Backend, forms: SwapForms, conn: Connection, table: str, wait: SwapWait) -> None:
    """No backups kept: `bkp.<table>` and older versions dropped."""
    for name in [table] + [name for _, name in backup_names(backend, conn, table)]:
        if backend.table_exists(conn, BKP_SCHEMA, name):
            wait_for_readers(forms, conn, Place(BKP_SCHEMA, name), wait, exclusive=True)
            backend.drop_table(conn, BKP_SCHEMA, name)


def backup_names(backend: Backend, conn: Connection, table: str) -> list[tuple[int, str]]:
    """Older backups of `table` in `bkp` as (load id, name), newest first."""
    return _marked(backend, conn, table, BACKUP_MARK)


def _marked(backend: Backend, conn: Connection, table: str, mark: str) -> list[tuple[int, str]]:
    flags = re.IGNORECASE if backend.names_fold_case else 0
    pattern = re.compile(re.escape(table + mark) + r"(\d+)$", flags)
    found = [(int(m.group(1)), name) for name in backend.tables_in(conn, BKP_SCHEMA) if (m := pattern.match(name))]
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


def pause_point(step: str) -> None:
    """Stop here for good when `INGEST_MONITOR_SWAP_PAUSE` names this step (a crash test kills
    the process now); the file it names is written first."""
    wanted, _, marker = os.environ.get(PAUSE_ENV, "").partition(":")
    if wanted != step:
        return
    if marker:
        Path(marker).write_text(step, encoding="utf-8")
    while True:
        time.sleep(3600)
