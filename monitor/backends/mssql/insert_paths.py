"""How rows reach SQL Server: the choice of path per driver, parameter sizes, bcp files.

Pure functions, tested without a server:

- pyodbc with Microsoft's ODBC driver: `fast_executemany` with explicit
  `setinputsizes` (NVARCHAR(n) sized from the column and the values, never a driver
  round trip to guess), in chunks whose parameter buffers stay bounded.
- pyodbc with FreeTDS, whose `fast_executemany` crashes the process (Debian's 1.3),
  or Windows' legacy `SQL Server` driver: multi-row `INSERT ... VALUES` statements
  within the 2,100-parameter and 1,000-row limits.
- mssql-python: its TDS bulk copy, else its `executemany`.
- `bcp`, when enabled in the config and on the PATH.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from monitor.backends.mssql.statements import TEXT_CHARS

MAX_PARAMS = 2000  # SQL Server refuses requests with more than 2,100 parameters; keep a margin
MAX_VALUES_ROWS = 1000  # the most rows one INSERT ... VALUES may hold
EXECUTEMANY_BUDGET = 32 * 1024 * 1024  # bytes of parameter buffers per fast_executemany chunk
SIZE_STEPS = (32, 128, 512, 2048, TEXT_CHARS)  # declared parameter sizes: few distinct plans
BCP_FIELD, BCP_ROW = "\x1f", "\x1e\n"

# ODBC constants (the same numbers in pyodbc and mssql-python).
SQL_DRIVER_NAME, SQL_DRIVER_VER = 6, 7
SQL_WVARCHAR, SQL_WLONGVARCHAR = -9, -10


class BulkLoadError(RuntimeError):
    """A bulk path left the side table in a state that cannot be reconciled."""


class InsertPath(StrEnum):
    """How rows reach a table."""

    FAST_EXECUTEMANY = "fast_executemany"
    JSON_ROWS = "json_rows"
    MULTIROW_VALUES = "multirow_values"
    EXECUTEMANY = "executemany"
    BULKCOPY = "bulkcopy"
    BCP = "bcp"


@dataclass(frozen=True)
class DriverInfo:
    """Which DB-API module, ODBC driver and driver version a connection uses."""

    dbapi: str  # "pyodbc" or "mssql_python"
    name: str = ""
    version: str = ""

    @property
    def is_freetds(self) -> bool:
        """FreeTDS (`libtdsodbc.so`, `tdsodbc`): no safe `fast_executemany`."""
        name = self.name.lower()
        return "tdsodbc" in name or "freetds" in name

    @property
    def declares_sizes(self) -> bool:
        """pyodbc with Microsoft's ODBC driver: parameters go with `setinputsizes`, so the driver
        never asks the server to describe them (Babelfish ends the transaction where it cannot)."""
        return self.dbapi == "pyodbc" and not self.is_freetds and not self.is_legacy_sqlsrv

    @property
    def is_legacy_sqlsrv(self) -> bool:
        """Windows' ancient `SQL Server` driver (SQLSRV32.DLL): no parameter arrays either."""
        return self.name.lower().startswith("sqlsrv32")


def direct_path(driver: DriverInfo, *, describes: bool = True) -> InsertPath:
    """The in-transaction path for a driver: the fallback of every bulk path. Microsoft's
    ODBC driver binds parameter arrays (`fast_executemany`); for FreeTDS (whose
    `fast_executemany` crashes the process) and mssql-python, rows travel as one JSON text
    per statement (`OPENJSON`: measured faster than their parameter paths, see the README).
    `describes`: the engine describes the parameters of any statement, as `fast_executemany`
    has Microsoft's driver ask it to; where it cannot (Babelfish), JSON rows too."""
    if driver.dbapi == "mssql_python" or driver.is_freetds or (driver.declares_sizes and not describes):
        return InsertPath.JSON_ROWS
    if driver.is_legacy_sqlsrv:
        return InsertPath.MULTIROW_VALUES
    return InsertPath.FAST_EXECUTEMANY


def row_path(driver: DriverInfo) -> InsertPath:
    """How rows JSON does not carry (`json_ready`) reach a table through a driver."""
    return InsertPath.EXECUTEMANY if driver.dbapi == "mssql_python" else InsertPath.MULTIROW_VALUES


JSON_ROWS_PER_STATEMENT = 1000  # measured fastest on Babelfish 4.2 (more rows parse slower)
BABELFISH_OPENJSON_COLUMNS = 98  # the widest OPENJSON ... WITH Babelfish 4.2 runs (measured)


def choose_insert_path(driver: DriverInfo, *, bcp: bool = False, bcp_found: bool = False,
                       bulk_copy: bool = True, describes: bool = True) -> InsertPath:
    """The fastest path a driver supports: `bcp` when enabled and installed, else
    mssql-python's bulk copy (unless `bulk_copy` is off), else the driver's direct path."""
    if bcp and bcp_found:
        return InsertPath.BCP
    if driver.dbapi == "mssql_python" and bulk_copy:
        return InsertPath.BULKCOPY
    return direct_path(driver, describes=describes)


def rows_per_statement(columns: int) -> int:
    """Rows per multi-row INSERT: within the parameter and VALUES-row limits."""
    return max(1, min(MAX_VALUES_ROWS, MAX_PARAMS // max(columns, 1)))


def declared_size(observed: int, column_chars: int) -> int:
    """The parameter size to declare for values up to `observed` UTF-16 units in a column
    of `column_chars` (-1: max): a few steps, never wider than the column."""
    if observed > TEXT_CHARS:
        return 0  # (max)
    step = next(s for s in SIZE_STEPS if s >= observed)
    return min(step, column_chars) if column_chars > 0 else step


def input_sizes(column_chars: Sequence[int], observed: Sequence[int], *,
                max_as_observed: bool = False) -> list[tuple[int, int, int]]:
    """`setinputsizes` arguments for text parameters: NVARCHAR(n) or NVARCHAR(max), the latter
    with size 0 (ODBC's "as long as it is") or, for mssql-python, which checks each value
    against the declared size, the longest value seen."""
    sizes = []
    for chars, seen in zip(column_chars, observed, strict=True):
        size = declared_size(seen, chars)
        if size == 0:
            sizes.append((SQL_WLONGVARCHAR, seen if max_as_observed else 0, 0))
        else:
            sizes.append((SQL_WVARCHAR, size, 0))
    return sizes


def chunk_rows(sizes: Sequence[tuple[int, int, int]], budget: int = EXECUTEMANY_BUDGET) -> int:
    """Rows per `fast_executemany` call so its parameter buffers stay within `budget`."""
    row_bytes = sum((size + 1) * 2 for _, size, _ in sizes) or 1
    return max(1, budget // row_bytes)


def utf16_length(value: str | None) -> int:
    """Length in UTF-16 code units, as NVARCHAR counts it."""
    if not value:
        return 0
    if value.isascii():
        return len(value)
    return len(value.encode("utf-16-le")) // 2


def nulls_mapped(rows: Sequence[Sequence[str]], null_values: Sequence[str]) -> list[list[str | None]]:
    """Copies of `rows` with every null token as None."""
    tokens = set(null_values)
    if tokens == {""}:
        return [[value or None for value in row] for row in rows]
    if not tokens:
        return [list(row) for row in rows]
    return [[None if value in tokens else value for value in row] for row in rows]


def longest_per_column(rows: Sequence[Sequence[str | None]], width: int) -> list[int]:
    """The longest value (UTF-16 units, as NVARCHAR counts) in each column of `rows`."""
    if not rows:
        return [0] * width
    out = []
    for column in zip(*rows, strict=True):
        values = [v for v in column if v]
        if all(map(str.isascii, values)):
            out.append(max(map(len, values), default=0))
        else:
            out.append(max(map(utf16_length, values)))
    return out


# -- bcp --------------------------------------------------------------------------------
def bcp_command(url: URL, table: str, data_file: Path, rows: int) -> list[str]:
    """The `bcp ... in` command for one batch file (UTF-16 character data, one
    transaction, `TABLOCK`). SQL logins pass the password
    with `-P` (visible to local process listings while bcp runs; never logged);
    a URL without a user (or with `Trusted_Connection=yes`) uses integrated authentication (`-T`)."""
    query = {k.lower(): str(v) for k, v in url.query.items()}
    server = url.host or "localhost"
    if url.port:
        server = f"{server},{url.port}"
    argv = ["bcp", table, "in", str(data_file), "-S", server, "-w", "-t", BCP_FIELD, "-r", BCP_ROW,
            "-b", str(max(rows, 1)), "-k", "-h", "TABLOCK", "-m", "1"]
    if url.database:
        argv += ["-d", url.database]
    if query.get("trusted_connection", "").lower() in ("yes", "true") or not url.username:
        argv.append("-T")
    else:
        argv += ["-U", url.username, "-P", url.password or ""]
    if query.get("trustservercertificate", "").lower() in ("yes", "true"):
        argv.append("-u")
    return argv


def bcp_can_carry(rows: Iterable[Sequence[str | None]]) -> bool:
    """False when a value holds a terminator or is an empty string (bcp reads it as NULL)."""
    for row in rows:
        for value in row:
            if isinstance(value, str) and (value == "" or BCP_FIELD in value or "\x1e" in value or "\x00" in value):
                return False
    return True


def write_bcp_file(path: Path, rows: Iterable[Sequence[Any]]) -> None:
    """Rows as UTF-16 character data with the bcp terminators (NULL: an empty field)."""
    with path.open("w", encoding="utf-16-le", newline="") as handle:
        for row in rows:
            handle.write(BCP_FIELD.join("" if v is None else str(v) for v in row) + BCP_ROW)


_COPIED = re.compile(r"(\d+) rows copied")


def rows_copied(output: str) -> int | None:
    """The count in bcp's `N rows copied.` line."""
    match = _COPIED.search(output)
    return int(match.group(1)) if match else None
