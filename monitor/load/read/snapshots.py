"""What a fullload file's name says about its snapshot, and "newest wins".

- `part_of(rule, name)`: a file that is one part of a snapshot set (the rule's `part_pattern`,
  by default the Companies House form `BasicCompanyData-2026-11-01-part3_7.zip`): the set's
  name, which part, and how many parts the set has.
- `snapshot_date(rule, name)`: the snapshot's date (the rule's `date_pattern` and
  `date_format`, by default `YYYY-MM-DD` anywhere in the name); None when the name has none.
- `superseded_reason(...)`: a fullload whose date is older than the snapshot loaded now does
  not replace it (`Superseded`); files without a date keep arrival order, and a replay puts
  an older snapshot back on purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import Connection, select

from monitor.backends import Backend
from monitor.catalog import files, sets
from monitor.config import FolderRule


class Superseded(Exception):
    """The snapshot is older than the one its target holds now: it is not loaded."""


@dataclass(frozen=True)
class PartName:
    """One part of a snapshot set, as its file name says: part `part` of `count` of `set_name`."""

    set_name: str
    part: int
    count: int

    @property
    def problem(self) -> str | None:
        """Why the numbers cannot be a part of a set (None when they can)."""
        if self.count < 1 or not 1 <= self.part <= self.count:
            return f"its name says part {self.part} of {self.count}"
        return None

    def __str__(self) -> str:
        return f"part {self.part} of {self.count}"


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def part_of(rule: FolderRule, name: str) -> PartName | None:
    """The set this fullload file is a part of, when its name says so (else None)."""
    if rule.mode != "fullload" or rule.part_pattern is None:
        return None
    found = _compiled(rule.part_pattern).search(name)
    if found is None or not found.group("set"):
        return None
    return PartName(found.group("set"), int(found.group("part")), int(found.group("count")))


def snapshot_date(rule: FolderRule, name: str) -> date | None:
    """The snapshot date in a fullload file's name (None: no date, or not a valid one)."""
    if rule.mode != "fullload" or rule.date_pattern is None:
        return None
    pattern = _compiled(rule.date_pattern)
    for found in pattern.finditer(name):
        text = found.group("date") if "date" in pattern.groupindex else found.group(0)
        try:
            return datetime.strptime(text, rule.date_format).date()
        except (TypeError, ValueError):
            continue
    return None


def loaded_snapshot(conn: Connection, schema: str, table: str) -> tuple[str, date] | None:
    """The snapshot in place in the target, if it has a date: (which load or set, its date).
    The latest load to end `loaded` is the one whose table is in place (swaps of a target
    take turns)."""
    query = (
        select(files.c.load_id, files.c.file_name, files.c.snapshot_date, sets.c.set_id, sets.c.set_name)
        .select_from(files.outerjoin(sets, sets.c.set_id == files.c.set_id))
        .where(files.c.target_schema == schema, files.c.target_table == table, files.c.status == "loaded",
               files.c.mode == "fullload")
        .order_by(files.c.finished_at.desc(), files.c.load_id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    if row is None or row.snapshot_date is None:
        return None
    which = f"set {row.set_id}, {row.set_name}" if row.set_id is not None else f"load {row.load_id}, {row.file_name}"
    return which, row.snapshot_date


def superseded_reason(conn: Connection, backend: Backend, schema: str, table: str, when: date | None) -> str | None:
    """Why a snapshot of date `when` must not replace `schema.table` now (None: it may)."""
    if when is None or not backend.table_exists(conn, schema, table):
        return None
    current = loaded_snapshot(conn, schema, table)
    if current is None or when >= current[1]:
        return None
    which, loaded_date = current
    return (f"superseded: its snapshot date {when.isoformat()} is older than {loaded_date.isoformat()}, the snapshot "
            f"{schema}.{table} holds now ({which}); not loaded (`replay` loads it on purpose)")


def check_newest(conn: Connection, backend: Backend, schema: str, table: str, when: date | None) -> None:
    """Raise `Superseded` when a snapshot of date `when` is older than the target's (inside the
    load's transaction, under the target's lock, just before the swap)."""
    reason = superseded_reason(conn, backend, schema, table, when)
    if reason is not None:
        raise Superseded(reason)
