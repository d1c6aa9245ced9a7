"""What a strategy hands a backend: the table rows go into, and (optionally) the file itself.

A backend gets rows in one of two ways. Always as batches of parsed rows
(`Backend.bulk_insert`); and, where it declares `reads_files`, as the file itself
(`Backend.load_file`), which it may take ("loaded N rows") or turn down ("not this file,
because ..."). `monitor.load.write.route` is the one place that offers a file and says which way
its rows went, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from monitor.source import SourceFormat


@dataclass(frozen=True)
class Target:
    """The table one load writes into now.

    `fresh` is True for a table the load created in its own transaction (a fullload's
    staging table): nobody else can see it, so a backend may lock it whole or give it
    defaults. `destination` is the table the rows end in (the staging table's target).
    `ordered` is True when the rows must arrive in the file's order (a merge's staging
    table: the last row of a key wins), so no path may reorder them.
    """

    schema: str | None
    table: str
    columns: list[str]
    load_id: int
    null_values: list[str] = field(default_factory=lambda: [""])
    fresh: bool = False
    destination: str = ""
    ordered: bool = False

    def __post_init__(self) -> None:
        if not self.destination:
            object.__setattr__(self, "destination", self.table)

    @property
    def key(self) -> str:
        """`schema.destination`: the target this table belongs to."""
        return f"{self.schema}.{self.destination}"

    def into(self, table: str, *, fresh: bool) -> Target:
        """The same load written into another table (its staging table)."""
        return replace(self, table=table, fresh=fresh)


@dataclass(frozen=True)
class RawFile:
    """A file offered to a backend that reads files itself: its path and how to read it.
    Offered only when its records load as read (no declared types, no dropped columns,
    the empty string the only null token). `on_rows` reports records read (progress and
    cancellation: it raises when the load must stop); `name` is the file's name in messages
    (its path's, when empty)."""

    path: Path
    fmt: SourceFormat
    on_rows: Callable[[int], None] | None = None
    name: str = ""

    @property
    def width(self) -> int:
        """Fields per record (the header's)."""
        return len(self.fmt.header)

    def read(self, rows: int) -> None:
        """Report `rows` more records read (negative: given back after a rollback)."""
        if self.on_rows is not None:
            self.on_rows(rows)


@dataclass(frozen=True)
class FileLoaded:
    """The backend read the file itself: `rows` inserted, by `how` (for the log)."""

    rows: int
    how: str


@dataclass(frozen=True)
class NotThisFile:
    """The backend did not take the file (and wrote nothing); `reason` says why."""

    reason: str


FileRead = FileLoaded | NotThisFile
