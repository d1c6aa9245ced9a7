"""What a fullload leaves behind, cleared when it ends and at start: its staging table
(`<t>__stg_<id>`), and the backup its swap copied (`bkp.<t>__swap_<id>`), which is dropped
or made `bkp.<t>` by the rule of `monitor.load.write.backups.settle`.

Every way a load ends (loaded, duplicate, failed, superseded, refused, rolled back because
the daemon stops) passes through `clear`; at start `sweep` drops the staging tables whose
load has ended (or is unknown), which a crash left, and says so in the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from monitor.backends import Backend
from monitor.backends.base import STAGING_MARK
from monitor.config import FolderRule
from monitor.load.state.machine import TERMINAL, StateStore
from monitor.load.write.backups import settle

log = logging.getLogger("monitor.leftovers")


def clear(backend: Backend, schema: str, table: str, load_ids: Iterable[int], keep_backups: int) -> list[str]:
    """After a load of `schema.table` ended, any way: settle the table's interrupted swaps, then
    drop the staging tables of `load_ids` (two transactions, in that order: a backup copied by
    a swap is never judged by a staging table already gone); what was done."""
    with backend.transaction() as conn:
        backend.lock_target(conn, schema, table)
        done = settle(backend, conn, schema, table, keep_backups)
    with backend.transaction() as conn:
        backend.lock_target(conn, schema, table)
        for load_id in load_ids:
            staging = backend.staging_name(table, load_id)
            if backend.table_exists(conn, schema, staging):
                backend.drop_table(conn, schema, staging)
                done.append(f"{schema}.{staging} dropped")
    return done


def clear_quietly(backend: Backend, schema: str, table: str, load_ids: Iterable[int], keep_backups: int) -> None:
    """`clear`, its failure logged and left for the next start (the database may be gone)."""
    try:
        done = clear(backend, schema, table, list(load_ids), keep_backups)
    except Exception as exc:  # any failure: the sweep at the next start clears it
        log.warning("could not clear what the load into %s.%s left (%s); the next start will", schema, table, exc)
        return
    for line in done:
        log.info("after the load into %s.%s: %s", schema, table, line)


def sweep(backend: Backend, state: StateStore, rules: Iterable[FolderRule]) -> list[str]:
    """At start: for every fullload target, settle interrupted swaps and drop the staging
    tables whose load has ended or is unknown (logged); a load still in flight keeps its own."""
    done: list[str] = []
    seen: set[tuple[str, str]] = set()
    for rule in rules:
        target = (backend.schema_for(rule.reference), rule.table)
        if rule.mode != "fullload" or target in seen:
            continue
        seen.add(target)
        schema, table = target
        with backend.reading() as conn:
            names = backend.tables_in(conn, schema)
        flags = re.IGNORECASE if backend.names_fold_case else 0
        pattern = re.compile(re.escape(table + STAGING_MARK) + r"(\d+)$", flags)
        ended = []
        for name in names:
            match = pattern.match(name)
            if match:
                row = state.get(int(match.group(1)))
                if row is None or row.status in TERMINAL:
                    ended.append(int(match.group(1)))
        for line in clear(backend, schema, table, ended, rule.backups):
            log.warning("at start: %s (left by a load that has ended)", line)
            done.append(line)
    return done
