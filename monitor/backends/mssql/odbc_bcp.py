"""Microsoft ODBC driver's own bulk copy (`bcp_initW` / `bcp_colfmt` / `bcp_exec`, the API the
`bcp` tool is built on), called through ctypes on a connection of its own: a batch written as a
UTF-16 data file (`write_bcp_file`) is read by the driver in C and sent as one TDS bulk load.

The connection must have `SQL_COPT_SS_BCP` set before it connects (without it `bcp_initW`
fails with no diagnostic). Linux with unixODBC only; anywhere else `OdbcBulkCopy` raises and the
caller takes its direct path.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

SQL_HANDLE_ENV, SQL_HANDLE_DBC = 1, 2
SQL_ATTR_ODBC_VERSION, SQL_OV_ODBC3 = 200, 3
SQL_COPT_SS_BCP, SQL_BCP_ON, SQL_IS_INTEGER = 1219, 1, -6
DB_IN, SUCCEED = 1, 1
SQLNCHAR, SQL_VARLEN_DATA = 0xEF, -10
BCPBATCH, BCPKEEPNULLS = 4, 5  # bcp_control options (msodbcsql.h)


class OdbcBcpError(RuntimeError):
    """A bulk-copy call failed; the message holds the driver's diagnostics."""


def utf16(text: str) -> bytes:
    """A NUL-terminated SQLWCHAR string (UTF-16 on unixODBC, whatever C's wchar_t is)."""
    return (text + "\0").encode("utf-16-le")


def driver_library(name: str = "msodbcsql") -> str:
    """The path of the loaded Microsoft ODBC driver (this process loaded it to connect)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1] if line.split() else ""
        if name in path and path.startswith("/"):
            return path
    raise OdbcBcpError("Microsoft's ODBC driver is not loaded in this process")


class OdbcBulkCopy:
    """One connection with bulk copy on; `copy(table, data_file, columns)` loads a file."""

    def __init__(self, connect_string: str) -> None:
        self.dm = ctypes.CDLL("libodbc.so.2")
        self.drv = ctypes.CDLL(driver_library())
        self.env, self.dbc = ctypes.c_void_p(), ctypes.c_void_p()
        self._ok(self.dm.SQLAllocHandle(SQL_HANDLE_ENV, None, ctypes.byref(self.env)), "SQLAllocHandle(ENV)")
        self._ok(self.dm.SQLSetEnvAttr(self.env, SQL_ATTR_ODBC_VERSION, ctypes.c_void_p(SQL_OV_ODBC3), 0),
                 "SQLSetEnvAttr")
        self._ok(self.dm.SQLAllocHandle(SQL_HANDLE_DBC, self.env, ctypes.byref(self.dbc)), "SQLAllocHandle(DBC)")
        self._ok(self.dm.SQLSetConnectAttr(self.dbc, SQL_COPT_SS_BCP, ctypes.c_void_p(SQL_BCP_ON), SQL_IS_INTEGER),
                 "SQLSetConnectAttr(SQL_COPT_SS_BCP)")
        raw = connect_string.encode()
        out, size = ctypes.create_string_buffer(1024), ctypes.c_short()
        self._ok(self.dm.SQLDriverConnect(self.dbc, None, raw, len(raw), out, 1024, ctypes.byref(size), 0),
                 "SQLDriverConnect")
        for fn in ("bcp_initW", "bcp_colfmt", "bcp_columns", "bcp_control", "bcp_exec"):
            getattr(self.drv, fn).restype = ctypes.c_int

    def copy(self, table: str, data_file: Path, columns: int, terminators: tuple[str, str]) -> int:
        """Rows copied from `data_file` (UTF-16, `terminators` = (field, row)) into `table`."""
        self._bcp(self.drv.bcp_initW(self.dbc, utf16(table), utf16(str(data_file)), None, DB_IN), "bcp_initW")
        self._bcp(self.drv.bcp_columns(self.dbc, columns), "bcp_columns")
        for i in range(1, columns + 1):
            term = (terminators[1] if i == columns else terminators[0]).encode("utf-16-le")
            self._bcp(self.drv.bcp_colfmt(self.dbc, i, SQLNCHAR, 0, SQL_VARLEN_DATA, term, len(term), i),
                      f"bcp_colfmt({i})")
        self._bcp(self.drv.bcp_control(self.dbc, BCPKEEPNULLS, ctypes.c_void_p(1)), "bcp_control(KEEPNULLS)")
        copied = ctypes.c_int(-1)
        self._bcp(self.drv.bcp_exec(self.dbc, ctypes.byref(copied)), "bcp_exec")
        return copied.value

    def close(self) -> None:
        self.dm.SQLDisconnect(self.dbc)
        self.dm.SQLFreeHandle(SQL_HANDLE_DBC, self.dbc)
        self.dm.SQLFreeHandle(SQL_HANDLE_ENV, self.env)

    def _ok(self, rc: int, what: str) -> None:
        if rc not in (0, 1):
            raise OdbcBcpError(f"{what} returned {rc}: {self.diagnostics()}")

    def _bcp(self, rc: int, what: str) -> None:
        if rc != SUCCEED:
            raise OdbcBcpError(f"{what} failed: {self.diagnostics() or 'no diagnostic'}")

    def diagnostics(self) -> str:
        """The connection's diagnostic records, one line."""
        found = []
        for i in range(1, 6):
            state, native = ctypes.create_string_buffer(6), ctypes.c_int()
            message, size = ctypes.create_string_buffer(1024), ctypes.c_short()
            if self.dm.SQLGetDiagRec(SQL_HANDLE_DBC, self.dbc, i, state, ctypes.byref(native), message, 1024,
                                      ctypes.byref(size)) not in (0, 1):
                break
            found.append(f"[{state.value.decode()}] {message.value.decode(errors='replace')}")
        return " | ".join(found)
