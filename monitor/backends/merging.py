"""Merging a staged file into its target on a key: the plan, the counts, and the statements.

A merge stages the file's rows in a table of their own (loaded by the backend's bulk path,
numbered in file order by `_seq`), then, in the load's one transaction:

1. drops the staged rows a later row of the same key supersedes (the last row of a key wins);
2. copies the current version of every row about to change into the history table;
3. updates the rows whose key matches and whose values differ (every column the file has);
4. inserts the rows whose key is new;
5. records the merge and its counts in `ingest_merges` beside the target (the proof, after a
   crash, that this load's merge committed, where the target commits apart from the daemon's
   own tables).

`MergeSql` writes these statements in the form PostgreSQL and SQLite share; a backend
overrides the few forms that differ (SQL Server's in `mssql/statements.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.catalog import BLANK_CHARS, LOAD_ID_COLUMN, REPLACED_AT_COLUMN, REPLACED_BY_COLUMN

SEQ_COLUMN = "_seq"  # a staged row's place in the file
STAGING_MARK = "__merge_"
MAX_INDEX_NAME = 60
SAMPLE_KEYS = 3
WHITESPACE = BLANK_CHARS  # a key of nothing else is empty, as the reader says (`monitor.catalog`)


@dataclass(frozen=True)
class Place:
    """A table: its schema (None: the default) and name."""

    schema: str | None
    table: str


@dataclass(frozen=True)
class MergePlan:
    """One merge: the target, its staged rows and its history table; the key columns, the
    file's columns (keys among them) and every column the target holds (what history keeps)."""

    target: Place
    staging: Place
    history: Place
    keys: list[str]
    columns: list[str]
    table_columns: list[str]
    load_id: int

    @property
    def values(self) -> list[str]:
        """The file's columns that are not part of the key."""
        return [name for name in self.columns if name not in self.keys]


@dataclass(frozen=True)
class MergeCounts:
    """What a merge did with the file's rows: `superseded` rows gave way to a later row of the
    same key within the file (a few of those keys in `superseded_keys`, for the audit)."""

    inserted: int
    updated: int
    unchanged: int
    superseded: int = 0
    superseded_keys: tuple[str, ...] = ()

    @property
    def applied(self) -> int:
        """Rows of the file the table now agrees with (one per key)."""
        return self.inserted + self.updated + self.unchanged


def staging_name(table: str, load_id: int) -> str:
    """The table a merge stages its file in."""
    return f"{table}{STAGING_MARK}{int(load_id)}"


def short_name(name: str) -> str:
    """`name`, cut and suffixed with a hash when longer than an index name may be."""
    if len(name) <= MAX_INDEX_NAME:
        return name
    return name[:MAX_INDEX_NAME - 11] + "_" + hashlib.sha256(name.encode()).hexdigest()[:10]


def key_index_name(table: str) -> str:
    """The unique index on a merge target's key."""
    return short_name(f"ux_{table}__key")


def history_index_name(table: str) -> str:
    """The index on a history table's key and replacing load."""
    return short_name(f"ix_{table}__history_key")


def sample(keys: Sequence[Sequence[object]]) -> tuple[str, ...]:
    """A few superseded keys as text (`a@x.com`, or `1|GB` for a key of two columns)."""
    return tuple("|".join("" if part is None else str(part) for part in key) for key in keys[:SAMPLE_KEYS])


class MergeSql:
    """The statements of one merge, in the form PostgreSQL and SQLite share."""

    null_safe_differs = "{left} IS DISTINCT FROM {right}"
    now_utc = "CURRENT_TIMESTAMP"
    # any type; every space of `BLANK_CHARS` as Unicode escapes (an ASCII-only literal):
    # `[[:space:]]` misses the no-break and figure spaces in the C.UTF-8 locale
    blank = "btrim(CAST({column} AS TEXT), {spaces}) = ''"

    def __init__(self, quote: Callable[[str], str], plan: MergePlan) -> None:
        self.q = quote
        self.plan = plan

    def name(self, place: Place) -> str:
        """`schema.table`, quoted."""
        return f"{self.q(place.schema)}.{self.q(place.table)}" if place.schema else self.q(place.table)

    def cols(self, names: Sequence[str], alias: str = "") -> str:
        """Quoted column names, each prefixed by `alias.` when given."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + self.q(name) for name in names)

    def keys_match(self, left: str, right: str) -> str:
        """The key columns equal, as the database compares them."""
        return " AND ".join(f"{left}.{self.q(k)} = {right}.{self.q(k)}" for k in self.plan.keys)

    def value_differs(self, column: str, left: str, right: str) -> str:
        """One column's values differ (NULL differs from a value, equals NULL)."""
        return self.null_safe_differs.format(left=f"{left}.{self.q(column)}", right=f"{right}.{self.q(column)}")

    def differs(self, left: str = "t", right: str = "s") -> str:
        """Any of the file's columns differs between the target row and the staged one."""
        return "(" + " OR ".join(self.value_differs(c, left, right) for c in self.plan.columns) + ")"

    def limit(self, select: str, rows: int) -> str:
        """A query's first `rows` rows."""
        return f"{select} LIMIT {int(rows)}"

    # -- the statements, in the order a merge runs them ---------------------------------
    def spaces(self) -> str:
        """`BLANK_CHARS` as a string literal of this dialect."""
        return "U&'" + "".join(f"\\{ord(char):04x}" for char in WHITESPACE) + "'"

    def empty_keys(self) -> str:
        """A staged row whose key is empty (NULL, or nothing but white space), if any."""
        spaces = self.spaces()
        empty = " OR ".join(f"s.{self.q(k)} IS NULL OR " + self.blank.format(column=f"s.{self.q(k)}", spaces=spaces)
                            for k in self.plan.keys)
        return self.limit(f"SELECT 1 FROM {self.name(self.plan.staging)} AS s WHERE {empty}", 1)

    def superseded_keys(self) -> str:
        """A few keys repeated within the file (read before they are dropped)."""
        staging = self.name(self.plan.staging)
        return self.limit(f"SELECT DISTINCT {self.cols(self.plan.keys, 's')} FROM {staging} AS s "
                          f"WHERE {self._later()}", SAMPLE_KEYS)

    def _later(self) -> str:
        staging = self.name(self.plan.staging)
        seq = self.q(SEQ_COLUMN)
        return (f"EXISTS (SELECT 1 FROM {staging} AS later WHERE {self.keys_match('later', 's')} "
                f"AND later.{seq} > s.{seq})")

    def drop_superseded(self) -> str:
        """Drop every staged row that a later row of the same key supersedes."""
        return f"DELETE FROM {self.name(self.plan.staging)} AS s WHERE {self._later()}"

    def keep_history(self) -> str:
        """Copy the current version of every row about to change into the history table."""
        plan = self.plan
        kept = [*plan.table_columns, LOAD_ID_COLUMN]
        return (f"INSERT INTO {self.name(plan.history)} ({self.cols([*kept, REPLACED_BY_COLUMN, REPLACED_AT_COLUMN])}) "
                f"SELECT {self.cols(kept, 't')}, {int(plan.load_id)}, {self.now_utc} "
                f"FROM {self._target_read()} JOIN {self.name(plan.staging)} AS s ON {self.keys_match('t', 's')} "
                f"WHERE {self.differs()}")

    def _target_read(self) -> str:
        return f"{self.name(self.plan.target)} AS t"

    def update(self) -> str:
        """Give every matching row whose values differ the file's values and this load's id."""
        plan = self.plan
        sets = ", ".join(f"{self.q(c)} = s.{self.q(c)}" for c in plan.values)
        sets = (sets + ", " if sets else "") + f"{self.q(LOAD_ID_COLUMN)} = {int(plan.load_id)}"
        return (f"UPDATE {self.name(plan.target)} AS t SET {sets} FROM {self.name(plan.staging)} AS s "
                f"WHERE {self.keys_match('t', 's')} AND {self.differs()}")

    def insert(self) -> str:
        """Insert the staged rows whose key the target does not hold."""
        plan = self.plan
        return (f"INSERT INTO {self.name(plan.target)} ({self.cols([*plan.columns, LOAD_ID_COLUMN])}) "
                f"SELECT {self.cols(plan.columns, 's')}, {int(plan.load_id)} FROM {self.name(plan.staging)} AS s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {self._target_read()} WHERE {self.keys_match('t', 's')})")
