"""Filling one SQL Server table with one call's batches: column widths, the direct paths in
the load's transaction, and the bulk paths through a committed side table."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import mssql

from monitor.backends.mssql.insert_paths import (
    BABELFISH_OPENJSON_COLUMNS,
    JSON_ROWS_PER_STATEMENT,
    BulkLoadError,
    DriverInfo,
    InsertPath,
    bcp_can_carry,
    bcp_command,
    chunk_rows,
    direct_path,
    input_sizes,
    longest_per_column,
    row_path,
    rows_copied,
    rows_per_statement,
    write_bcp_file,
)
from monitor.backends.mssql.json_rows import JsonForm, json_batch, json_ready
from monitor.backends.mssql.side_tables import SideTables
from monitor.backends.mssql.statements import TEXT_CHARS, qualified, side_table_name
from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.backends.target import Target
from monitor.catalog import LOAD_ID_COLUMN


class FillingBackend(Protocol):
    """What a table fill uses of the SQL Server backend (`MssqlBackend` is one), named here so
    that the backend imports its fill and the fill never imports the backend back."""

    engine: Engine
    side_tables: SideTables  # bulk copy's and bcp's, dropped if the load fails

    def column_chars(self, conn: Connection, schema: str | None, table: str) -> dict[str, int]: ...

    json_form: JsonForm | None  # what the engine's OPENJSON reads (json_rows.py)

    def is_babelfish(self, conn: Connection) -> bool: ...

    def driver(self, conn: Connection) -> DriverInfo: ...

    def dbapi_connection(self, conn: Connection) -> Any: ...

    def mark_bulk_broken(self, key: str, reason: BaseException | str) -> None: ...


class TableFill:
    """One bulk_insert call: the target's column widths, and the paths that fill it. A fresh
    table (a fullload's staging table, seen by nobody else) is written `WITH (TABLOCK)`."""

    def __init__(self, backend: FillingBackend, conn: Connection, target: Target, driver: DriverInfo) -> None:
        self.backend, self.conn, self.target = backend, conn, target
        self.schema, self.table, self.columns = target.schema, target.table, target.columns
        self.load_id, self.driver, self.tablock = target.load_id, driver, target.fresh
        widths = backend.column_chars(conn, self.schema, self.table)
        self.chars = [widths.get(name, TEXT_CHARS) for name in self.columns]
        self.side: str | None = None
        # Babelfish's OPENJSON ... WITH takes at most 98 columns (a PostgreSQL function's 100 arguments)
        self.json_fits = len(self.columns) <= BABELFISH_OPENJSON_COLUMNS or not backend.is_babelfish(conn)

    # -- widths ------------------------------------------------------------------------
    def widen_for(self, rows: list[list[str | None]]) -> list[int]:
        """Widen columns to NVARCHAR(max) where a value needs it; the longest per column."""
        longest = longest_per_column(rows, len(self.columns))
        for i, seen in enumerate(longest):
            if 0 < self.chars[i] < seen:
                self.conn.exec_driver_sql(S.widen_column(self.schema, self.table, self.columns[i]))
                if self.side:
                    with self.backend.engine.connect() as side:
                        side.exec_driver_sql(S.widen_column(self.schema, self.side, self.columns[i]))
                        side.commit()
                self.chars[i] = -1
        return longest

    # -- direct paths (in the caller's transaction) -------------------------------------
    def direct_all(self, batches: Iterator[list[list[str | None]]]) -> int:
        total = 0
        for rows in batches:
            total += self.direct(rows)
        return total

    def direct(self, rows: list[list[str | None]]) -> int:
        if not rows:
            return 0
        longest = self.widen_for(rows)
        # Babelfish 4.2 describes no statement over 4,000 characters (fast_executemany asks it to)
        path = direct_path(self.driver, describes=not self.backend.is_babelfish(self.conn))
        if path is InsertPath.JSON_ROWS and (self.target.ordered or not self.json_fits):  # JSON takes some rows first
            path = row_path(self.driver)
        cursor = self.backend.dbapi_connection(self.conn).cursor()
        try:
            rest = rows
            if path is InsertPath.JSON_ROWS:
                rest = self._json(cursor, rows)
                path = row_path(self.driver)
            if not rest:
                pass
            elif path is InsertPath.MULTIROW_VALUES:
                self._multirow(cursor, rest, longest)
            else:
                self._executemany(cursor, rest, longest, fast=path is InsertPath.FAST_EXECUTEMANY)
        finally:
            cursor.close()
        return len(rows)

    def _json(self, cursor: Any, rows: list[list[str | None]]) -> list[list[str | None]]:
        """Insert the rows JSON carries in the engine's form (json_rows.py), a statement per
        `JSON_ROWS_PER_STATEMENT`; return the others."""
        ready: list[list[str | None]] = []
        rest: list[list[str | None]] = []
        form = self.backend.json_form or JsonForm.PLAIN
        for row in rows:
            (ready if json_ready(row, form) else rest).append(row)
        for start in range(0, len(ready), JSON_ROWS_PER_STATEMENT):
            batch = json_batch(ready[start:start + JSON_ROWS_PER_STATEMENT], form)
            cursor.execute(S.insert_json(self.schema, self.table, self.columns, self.load_id, tablock=self.tablock,
                                         restore=batch.restore), batch.text)
        return rest

    def _executemany(self, cursor: Any, rows: list[list[str | None]], longest: list[int], *,
                     fast: bool) -> None:
        sql = S.insert_row(self.schema, self.table, self.columns, self.load_id, tablock=self.tablock)
        sizes = input_sizes(self.chars, longest, max_as_observed=True)  # ODBC Driver 18: no size 0 in arrays
        if fast:
            cursor.fast_executemany = True
        step = chunk_rows(sizes)
        for start in range(0, len(rows), step):
            cursor.setinputsizes(sizes)
            cursor.executemany(sql, rows[start:start + step])

    def _multirow(self, cursor: Any, rows: list[list[str | None]], longest: list[int]) -> None:
        """Multi-row VALUES within the parameter limits; with Microsoft's driver, NULLs are
        written as NULL and the other parameters' sizes declared (nothing left to describe)."""
        per = rows_per_statement(len(self.columns))
        full = S.insert_values(self.schema, self.table, self.columns, self.load_id, per, tablock=self.tablock)
        sizes = input_sizes(self.chars, longest, max_as_observed=True) if self.driver.declares_sizes else []
        for start in range(0, len(rows), per):
            chunk = rows[start:start + per]
            if sizes:
                nulls = [[value is None for value in row] for row in chunk]
                cursor.setinputsizes([size for row in nulls for size, null in zip(sizes, row, strict=True)
                                      if not null])
                sql = S.insert_values(self.schema, self.table, self.columns, self.load_id, len(chunk),
                                      tablock=self.tablock, nulls=nulls)
                cursor.execute(sql, [value for row in chunk for value in row if value is not None])
                continue
            sql = full if len(chunk) == per else S.insert_values(
                self.schema, self.table, self.columns, self.load_id, len(chunk), tablock=self.tablock)
            cursor.execute(sql, list(chain.from_iterable(chunk)))

    # -- bulk paths (a committed side table, moved in by the caller's transaction) ------
    def via_side_table(self, batches: Iterator[list[list[str | None]]], path: InsertPath) -> int:
        self.side = side_table_name(self.table, self.load_id)
        self.backend.side_tables.register(self.conn, self.schema, self.side)
        with self.backend.engine.connect() as side:
            side.exec_driver_sql(S.drop_table(self.schema, self.side, if_exists=True))
            types = [mssql.NVARCHAR(None if c < 0 else (c or TEXT_CHARS)) for c in self.chars]
            side.exec_driver_sql(S.create_table(self.schema, self.side, self.columns, types))
            side.commit()
        in_side = total = 0
        bulk_ok = True
        for rows in batches:
            total += len(rows)
            if bulk_ok and rows:
                self.widen_for(rows)
                outcome = self._bulk_batch(rows, path)
                if outcome is True:
                    in_side += len(rows)
                    continue
                landed = self._count_side()
                if landed == in_side + len(rows):
                    in_side = landed
                    continue
                if landed != in_side:
                    raise BulkLoadError(f"bulk load into {qualified(self.schema, self.side)} left {landed} rows, "
                                        f"expected {in_side} or {in_side + len(rows)}")
                bulk_ok = False
                self.backend.mark_bulk_broken(self.target.key, outcome or "the bulk path failed")
            self.direct(rows)
        try:
            if in_side:
                self.conn.exec_driver_sql(S.insert_select(self.schema, self.table, self.schema, self.side,
                                                          self.columns, tablock=self.tablock))
        except Exception:  # e.g. a value its typed column refuses: no side table left behind
            self.backend.side_tables.drop(self.schema, self.side)
            raise
        self.conn.exec_driver_sql(S.drop_table(self.schema, self.side))  # dropped when the load commits
        return total

    def _count_side(self) -> int:
        assert self.side is not None
        with self.backend.engine.connect() as side:
            return int(side.exec_driver_sql(S.count_rows(self.schema, self.side)).scalar_one())

    def _bulk_batch(self, rows: list[list[str | None]], path: InsertPath) -> bool | BaseException | str:
        """True when the whole batch landed; otherwise why not (never raises, not even on a
        driver panic, which is a BaseException)."""
        assert self.side is not None
        tagged = [(*row, self.load_id) for row in rows]
        try:
            if path is InsertPath.BCP:
                copied = self._bcp(tagged)
            else:
                cursor = self.backend.dbapi_connection(self.conn).cursor()
                try:
                    result = cursor.bulkcopy(
                        qualified(self.schema, self.side), tagged, batch_size=len(tagged), timeout=0,
                        column_mappings=[*self.columns, LOAD_ID_COLUMN], table_lock=True,
                        keep_nulls=True, use_internal_transaction=True)
                finally:
                    cursor.close()
                copied = int(result.get("rows_copied", -1)) if isinstance(result, dict) else -1
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a Rust panic in the driver is a BaseException
            return exc
        return True if copied == len(rows) else f"{copied} of {len(rows)} rows copied"

    def _bcp(self, rows: list[tuple[Any, ...]]) -> int:
        assert self.side is not None
        if not bcp_can_carry(rows):
            return -1
        with tempfile.TemporaryDirectory(prefix="ingest-bcp-") as folder:
            data = Path(folder) / "batch.dat"
            write_bcp_file(data, rows)
            argv = bcp_command(self.backend.engine.url, qualified(self.schema, self.side), data, len(rows))
            done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        copied = rows_copied(done.stdout)
        if done.returncode != 0 or copied is None:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"bcp exited {done.returncode}: {' '.join(tail)}")
        return copied
