"""The fullload swap that keeps the table: the new snapshot's rows move into `ref.<t>`; the
table itself stays, and with it what people built on it (views, grants, indexes, constraints,
foreign keys, triggers, comments, row-level security).

In order, inside the load's transaction, the target locked (`Backend.lock_target`):

1. a first load has nothing to keep: the staging table is renamed into place;
2. the current rows are copied into `bkp.<t>__swap_<id>` (the backup this swap makes);
3. `commit_step`: where the target's file and `bkp`'s commit one by one (SQLite's attached
   files) what is done so far commits here, so `bkp` holds the previous rows before `ref`
   changes; nothing where one transaction spans both;
4. the locks on `ref.<t>` are asked for with a short lock timeout, retried with backoff
   (`wait_for_readers`), so readers that come meanwhile are served; the table gets the staging
   table's columns, is emptied and filled from it; the staging table is dropped;
5. the backups rotate (`bkp.<t>` becomes `<t>__load_<id>` or is dropped) and `<t>__swap_<id>`
   becomes `bkp.<t>`: in the same transaction, or, where files commit one by one, once the
   load committed (`settle`, from `monitor.load.write.leftovers`), so that `bkp` never changes
   in a commit that `ref` may miss.

After a crash between two steps the leftover `__swap_` table says which: its staging table
still there means `ref` never changed (it is dropped); gone means `ref` holds the new rows
(step 5 is finished). `settle` runs that rule before every swap and at start.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from monitor.backends.merging import Place
from monitor.catalog import BKP_SCHEMA, LOAD_ID_COLUMN

if TYPE_CHECKING:
    from monitor.backends.base import Backend

log = logging.getLogger("monitor.swap")
STAGING_MARK = "__stg_"
BACKUP_MARK = "__load_"
SWAP_MARK = "__swap_"  # bkp.<t>__swap_<id>: the previous rows, copied by the swap of load <id>
PAUSE_ENV = "INGEST_MONITOR_SWAP_PAUSE"  # "<step>:<file>": stop at a step (crash tests), the file says so
DEFAULT_WAIT_SECONDS = 300.0
FIRST_BACKOFF, LONGEST_BACKOFF = 0.05, 1.0

# what a load is told while its swap waits: (message, since), (None, None) when it no longer waits
OnWait = Callable[[str | None, datetime | None], None]


class SwapWaitTooLong(Exception):
    """The swap waited longer than its rule allows for the readers of a table."""


@dataclass(frozen=True)
class SwapWait:
    """How long a swap may wait for readers, and who is told while it waits."""

    limit_seconds: float = DEFAULT_WAIT_SECONDS
    on_wait: OnWait | None = None
    between_tries: Callable[[], None] | None = None  # raises to stop waiting (the daemon stops)


class SwapForms:
    """How one database takes part in the swap (`Backend.swap_forms`); the defaults hold where
    readers never block the writer and one transaction spans every schema."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def try_lock(self, conn: Connection, schema: str, table: str, *, exclusive: bool) -> None:
        """Take the lock the swap needs on a table now, raising soon (`is_lock_wait`) while a
        reader holds it; `exclusive` for a change of its columns or name."""
        return None

    def is_lock_wait(self, exc: BaseException) -> bool:
        """True for the error `try_lock` raises when it gave up waiting."""
        return False

    commits_in_steps = False  # the target's file and `bkp` commit one by one (`commit_step`)

    def commit_step(self, conn: Connection) -> None:
        """Commit what the swap did so far and go on in a new transaction (nothing by default)."""
        return None

    def copy_table(self, conn: Connection, source: Place, copy: Place) -> None:
        """A new table `copy` holding every row of `source`."""
        b = self.backend
        conn.exec_driver_sql(f"CREATE TABLE {b.qualified(copy.schema, copy.table)} AS "
                             f"SELECT * FROM {b.qualified(source.schema, source.table)}")

    def drop_column(self, conn: Connection, place: Place, column: str) -> None:
        """Drop a column the new snapshot no longer has."""
        conn.exec_driver_sql(f"ALTER TABLE {self.backend.qualified(place.schema, place.table)} "
                             f"DROP COLUMN {self.backend.quote(column)}")

    def replace_rows(self, conn: Connection, target: Place, staging: Place, columns: list[str]) -> None:
        """Every row of `target` replaced by those of `staging` (readers see one or the other)."""
        b = self.backend
        names = ", ".join(b.quote(name) for name in columns)
        conn.exec_driver_sql(f"DELETE FROM {b.qualified(target.schema, target.table)}")
        conn.exec_driver_sql(f"INSERT INTO {b.qualified(target.schema, target.table)} ({names}) "
                             f"SELECT {names} FROM {b.qualified(staging.schema, staging.table)}")


def load_id_of_staging(staging: str) -> int:
    """The load id a staging table's name ends with."""
    return int(staging.rsplit(STAGING_MARK, 1)[1])


def swap_name(table: str, load_id: int) -> str:
    """The backup a swap makes before `ref` changes: `<t>__swap_<id>`."""
    return f"{table}{SWAP_MARK}{int(load_id)}"


def replace(backend: Backend, conn: Connection, schema: str, table: str, staging: str, keep_backups: int,
            wait: SwapWait | None = None) -> None:
    """The filled `staging` becomes the rows of `schema.table`, the table kept (module docstring)."""
    forms, wait = backend.swap_forms(backend), wait or SwapWait()
    backend.lock_target(conn, schema, table)
    for line in settle(backend, conn, schema, table, keep_backups):
        log.warning("before the swap of %s.%s, one a crash interrupted: %s", schema, table, line)
    if not backend.table_exists(conn, schema, table):
        backend.rename_table(conn, schema, staging, table)
        return
    load_id = load_id_of_staging(staging)
    pending = Place(BKP_SCHEMA, swap_name(table, load_id))
    if keep_backups:
        backend.drop_table(conn, pending.schema, pending.table)
        forms.copy_table(conn, Place(schema, table), pending)
    forms.commit_step(conn)
    pause_point("backup-copied")
    target, source = Place(schema, table), Place(schema, staging)
    new = backend.columns_of(conn, schema, staging)
    old = backend.columns_of(conn, schema, table)
    wait_for_readers(forms, conn, target, wait, exclusive=set(new) != set(old))
    _same_columns(backend, forms, conn, target, source, old)
    forms.replace_rows(conn, target, source, new)
    backend.drop_table(conn, schema, staging)
    if not keep_backups:
        _drop_backups(backend, forms, conn, table, wait)
    elif not forms.commits_in_steps:
        _rotate(backend, forms, conn, table, keep_backups, wait)
        backend.rename_table(conn, BKP_SCHEMA, pending.table, table)
    # else: `ref` commits with the load; `settle` then makes the backup `bkp.<table>`


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


def wait_for_readers(forms: SwapForms, conn: Connection, place: Place, wait: SwapWait, *,
                     exclusive: bool = False) -> None:
    """Take the swap's lock on `place`, each try given up soon and retried with backoff, so
    that readers never queue behind it; `SwapWaitTooLong` after `wait.limit_seconds`."""
    since: datetime | None = None
    delay = FIRST_BACKOFF
    what = f"{place.schema}.{place.table}"
    while True:
        savepoint = conn.begin_nested()
        try:
            forms.try_lock(conn, place.schema or "", place.table, exclusive=exclusive)
        except DBAPIError as exc:
            savepoint.rollback()
            if not forms.is_lock_wait(exc):
                raise
            now = _utcnow()
            if since is None:
                since = now
                log.warning("the swap is waiting for readers of %s (the lock is asked for again and again, "
                            "so readers are never queued behind it)", what)
                if wait.on_wait:
                    wait.on_wait(f"waiting for readers of {what} since {since:%Y-%m-%d %H:%M:%S}Z", since)
            waited = (now - since).total_seconds()
            if waited >= wait.limit_seconds:
                raise SwapWaitTooLong(
                    f"waited {waited:.0f} s for readers of {what} (since {since:%Y-%m-%d %H:%M:%S}Z), longer than "
                    f"`swap_wait_seconds` ({wait.limit_seconds:g} s) allows: a reader holds it in an open "
                    "transaction; the target is unchanged") from exc
            if wait.between_tries:
                wait.between_tries()
            time.sleep(delay)
            delay = min(delay * 2, LONGEST_BACKOFF)
            continue
        savepoint.commit()
        if since is not None:
            log.info("the swap has the lock on %s after waiting %.1f s for readers", what,
                     (_utcnow() - since).total_seconds())
            if wait.on_wait:
                wait.on_wait(None, None)
        return


def _utcnow() -> datetime:
    """Now in UTC, naive, as the daemon keeps its times."""
    return datetime.now(UTC).replace(tzinfo=None)


def backup_names(backend: Backend, conn: Connection, table: str) -> list[tuple[int, str]]:
    """Older backups of `table` in `bkp` as (load id, name), newest first."""
    return _marked(backend, conn, table, BACKUP_MARK)


def _marked(backend: Backend, conn: Connection, table: str, mark: str) -> list[tuple[int, str]]:
    flags = re.IGNORECASE if backend.names_fold_case else 0
    pattern = re.compile(re.escape(table + mark) + r"(\d+)$", flags)
    found = [(int(m.group(1)), name) for name in backend.tables_in(conn, BKP_SCHEMA) if (m := pattern.match(name))]
    return sorted(found, reverse=True)


def _rotate(backend: Backend, forms: SwapForms, conn: Connection, table: str, keep: int, wait: SwapWait) -> None:
    """Make room for a new `bkp.<table>`: the one there becomes `<table>__load_<id>` (or is
    dropped when one version is kept), and older versions beyond `keep - 1` are dropped."""
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


def archive_name(backend: Backend, conn: Connection, table: str) -> str:
    """The name `bkp.<table>` takes when a newer backup arrives: `<table>__load_<id>`."""
    load_id = backend.load_id_of(conn, BKP_SCHEMA, table) or 0
    taken = {name for _, name in backup_names(backend, conn, table)}
    name, suffix = f"{table}{BACKUP_MARK}{load_id}", 2
    while name in taken:
        name = f"{table}{BACKUP_MARK}{load_id}{suffix}"
        suffix += 1
    return name


def settle(backend: Backend, conn: Connection, schema: str, table: str, keep_backups: int = 1) -> list[str]:
    """Finish or undo the swaps of `table` a crash stopped between their commits (the module
    docstring's rule); what was done, said for the log."""
    done = []
    for load_id, name in _marked(backend, conn, table, SWAP_MARK):
        if backend.table_exists(conn, schema, backend.staging_name(table, load_id)):
            backend.drop_table(conn, BKP_SCHEMA, name)
            done.append(f"{BKP_SCHEMA}.{name} dropped: the swap of load {load_id} never changed {schema}.{table}")
            continue
        forms = backend.swap_forms(backend)
        _rotate(backend, forms, conn, table, max(keep_backups, 1), SwapWait())
        backend.rename_table(conn, BKP_SCHEMA, name, table)
        done.append(f"{BKP_SCHEMA}.{name} became {BKP_SCHEMA}.{table}: the swap of load {load_id} had changed "
                    f"{schema}.{table}")
    return done


def pause_point(step: str) -> None:
    """Stop here for good when `INGEST_MONITOR_SWAP_PAUSE` names this step (a crash test kills
    the process now); the file it names is written first."""
    setting = os.environ.get(PAUSE_ENV, "")
    wanted, _, marker = setting.partition(":")
    if wanted != step:
        return
    if marker:
        Path(marker).write_text(step, encoding="utf-8")
    while True:
        time.sleep(3600)
