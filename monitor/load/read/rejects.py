"""Rejected records: written aside as they come (bounded memory), then stored with the load.

The side file `<file>.rejects.csv` (columns line, column, reason, raw) travels with
the file to `archive/` or `failed/`; `raw` is the record's text exactly as it was in
the file (a CSV reader gives it back unchanged). The same rows go to `ingest_rejects`
inside the load's transaction, or inside the failure's when the file fails (there a NUL
character, which databases refuse in text, is written as `\\x00`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, insert

from monitor.catalog import rejects
from monitor.load.read.records import Reject

REJECTS_HEADER = ["line", "column", "reason", "raw"]
INSERT_CHUNK = 1000


class RejectSink:
    """Collects a load's rejects in `<file>.rejects.csv` and copies them to `ingest_rejects`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.first: Reject | None = None
        self._handle: TextIO | None = None
        self._writer: Any = None  # the csv module's writer (its type is private)

    @classmethod
    def reopen(cls, path: Path) -> RejectSink:
        """A sink over a side file already written (e.g. by a load that then failed)."""
        sink = cls(path)
        if path.exists():
            sink.count = sum(1 for _ in sink._read())
        return sink

    def add(self, items: Iterable[Reject]) -> None:
        """Write rejects to the side file as they are found."""
        for item in items:
            if self._writer is None:
                handle = self._handle = self.path.open("w", encoding="utf-8", newline="")
                self._writer = csv.writer(handle)
                self._writer.writerow(REJECTS_HEADER)
            self._writer.writerow([item.line, item.column or "", item.reason, item.raw])
            self.count += 1
            if self.first is None:
                self.first = item

    def reset(self) -> None:
        """Forget everything written (a load that starts over)."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.count = 0
        self.first = None

    def close(self) -> None:
        """Flush and close the side file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._writer = None

    def _read(self) -> Iterator[dict[str, object]]:
        with self.path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for line, column, reason, raw in reader:
                yield {"line_number": int(line), "column_name": column or None, "reason": reason,
                       "raw": raw.replace("\x00", "\\x00")}  # no database stores NUL in text

    def store(self, conn: Connection, load_id: int) -> None:
        """Insert every reject into `ingest_rejects` inside the load's transaction."""
        self.close()
        if not self.count:
            return
        chunk: list[dict[str, object]] = []
        for item in self._read():
            chunk.append({"load_id": load_id, **item})
            if len(chunk) >= INSERT_CHUNK:
                conn.execute(insert(rejects), chunk)
                chunk = []
        if chunk:
            conn.execute(insert(rejects), chunk)
