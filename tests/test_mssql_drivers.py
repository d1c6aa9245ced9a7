"""Each SQL Server driver's own paths, live, on the server of `MSSQL_URL` (a fresh database per
test), through every driver that runs here: pyodbc with the URL's ODBC driver, pyodbc with
Microsoft's ODBC Driver 18 (registered from PyPI by `tests/odbc_driver.py`), mssql-python.

- ODBC Driver 18: `fast_executemany` with sizes declared by `setinputsizes` (NVARCHAR(n) and
  NVARCHAR(max)), NULLs, values beyond the BMP, a value over 4,000 characters;
- FreeTDS and mssql-python: JSON rows in the form the engine's OPENJSON reads, quotes and
  line breaks included;
- every driver: the 2,100-parameter limit of the row path, a NULL set by an UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

from monitor.backends import open_backend
from monitor.backends.mssql import MssqlBackend
from monitor.backends.mssql.fill import TableFill
from monitor.backends.mssql.insert_paths import (
    BCP_FIELD,
    BCP_ROW,
    MAX_PARAMS,
    InsertPath,
    rows_per_statement,
    write_bcp_file,
)
from monitor.backends.mssql.json_rows import STAND_INS, JsonForm, json_ready
from monitor.backends.mssql.odbc_bcp import OdbcBulkCopy
from monitor.backends.target import Target
from monitor.catalog import files
from monitor.load import setup
from monitor.load.state.machine import utcnow

pytestmark = pytest.mark.mssql
ODBC_18 = "ODBC Driver 18 for SQL Server"
AWKWARD = [
    "plain", "", 'say "hi"', "line\nbreak\r\nand\rmore", "back\\slash \\n \\u0041 \\\"", "tab\there",
    "\x01\x02\x1f control", "é 名前 ü \u2028 \x7f", "😀 beyond the BMP 𝄞", STAND_INS[0] + " a private-use character",
    "x" * 4000, '"' * 4000, "y" * 4001, "é😀" * 2500 + "end",  # 4,000 and more: NVARCHAR(max)
    "[{\"json\": null}]", "NULL", " leading and trailing ",
]


def driver_urls(url: str) -> dict[str, str]:
    """The same server and login through each driver that runs here."""
    import pyodbc

    parsed = make_url(url)
    if parsed.drivername == "mssql":
        parsed = parsed.set(drivername="mssql+pyodbc")
    query = {k: v for k, v in parsed.query.items() if k.lower() not in ("driver", "tds_version")}
    urls = {"mssql-python": parsed.set(drivername="mssql+mssqlpython", query=query)}
    if parsed.get_driver_name() == "pyodbc":
        urls[str(parsed.query.get("driver", "pyodbc"))] = parsed
    if ODBC_18 in pyodbc.drivers():
        urls[ODBC_18] = parsed.set(drivername="mssql+pyodbc", query={**query, "driver": ODBC_18})
    return {name: u.render_as_string(hide_password=False) for name, u in urls.items()}


@pytest.fixture(params=["the URL's driver", ODBC_18, "mssql-python"])
def backend(request: pytest.FixtureRequest, mssql_database: str) -> Iterator[MssqlBackend]:
    parsed, urls = make_url(mssql_database), driver_urls(mssql_database)
    if request.param == "the URL's driver":
        if parsed.get_driver_name() == "mssqlpython":
            pytest.skip("MSSQL_URL names mssql-python: its run is the mssql-python one")
        url = urls[str(parsed.query.get("driver", "pyodbc"))]
    elif request.param == ODBC_18 and str(parsed.query.get("driver", "")) == ODBC_18:
        pytest.skip("MSSQL_URL names ODBC Driver 18: its run is the URL's driver one")
    elif request.param not in urls:
        pytest.skip(f"{request.param} is not registered with unixODBC (tests/odbc_driver.py registers it from PyPI)")
    else:
        url = urls[request.param]
    opened = open_backend(url)
    assert isinstance(opened, MssqlBackend)
    setup.init_db(opened)
    yield opened
    opened.dispose()


def load(backend: MssqlBackend, table: str, columns: list[str], rows: list[list[str]], *,
         ordered: bool = False) -> list:
    """Rows in through `bulk_insert` (one transaction), read back in order of their first column."""
    with backend.transaction() as conn:
        backend.create_table(conn, "dbo", table, columns)  # with its _load_id column
        assert backend.bulk_insert(conn, Target("dbo", table, columns, 7, ordered=ordered), [rows]) == len(rows)
    with backend.reading() as conn:
        names = ", ".join(f"[{c}]" for c in columns)
        return [list(r) for r in conn.exec_driver_sql(f"SELECT {names} FROM dbo.[{table}] ORDER BY [{columns[0]}]")]


def expected(rows: list[list[str]]) -> list[list[str | None]]:
    return [[value or None for value in row] for row in rows]  # the empty string is the null token


def test_every_kind_of_value_arrives_exactly_by_the_drivers_fast_path(backend):
    rows = [[f"{i:03d}", value, value[::-1], ""] for i, value in enumerate(AWKWARD)]
    assert load(backend, "awkward", ["n", "a", "b", "c"], rows) == expected(rows)
    with backend.reading() as conn:
        driver, path = backend.driver(conn), backend.insert_path(conn)
        widths = dict(conn.exec_driver_sql("SELECT c.name, c.max_length FROM sys.columns AS c "
                                           "WHERE c.object_id = OBJECT_ID(N'dbo.awkward')").all())
        babelfish = backend.is_babelfish(conn)
    assert widths["a"] == widths["b"] == -1 and widths["c"] == 8000  # NVARCHAR(max) where needed only
    if driver.declares_sizes and not babelfish:
        assert path is InsertPath.FAST_EXECUTEMANY, path  # setinputsizes: NVARCHAR(n) and (max)
    else:  # Babelfish describes no statement over 4,000 characters: Microsoft's driver sends JSON there too
        assert path in (InsertPath.JSON_ROWS, InsertPath.BULKCOPY), path
        assert backend.json_form is (JsonForm.STAND_INS if babelfish else JsonForm.ESCAPES)
        quoted = [row for row in rows if json_ready(row, backend.json_form) and not json_ready(row)]
        assert len(quoted) >= 4  # quotes, line breaks, backslashes, control characters: JSON rows too


def test_rows_keep_to_the_2100_parameter_limit_on_the_row_path(backend):
    columns = [f"c{i:04d}" for i in range(1000)]
    rows = [[f"{r:02d}", *[f"{r}-{i}" if i % 7 else "" for i in range(1, 1000)]] for r in range(9)]
    per = rows_per_statement(len(columns))
    assert per * len(columns) <= MAX_PARAMS < 2100 and per == 2
    assert load(backend, "wide", columns, rows, ordered=True) == expected(rows)  # in file order: row by row


def test_a_null_set_by_an_update_keeps_the_transaction_whole(backend):
    with backend.transaction() as conn:
        load_id = conn.execute(insert(files).values(
            file_name="f.csv", source_path="/in/f.csv", sha256="ab" * 32, size_bytes=1, target_schema="dbo",
            target_table="t", mode="append", status="duplicate", started_at=utcnow(), lease_expires=utcnow(),
        )).inserted_primary_key[0]
        changed = conn.execute(update(files).where(files.c.load_id == load_id)
                               .values(lease_expires=None, pending_move_to=None, error=None))
        assert changed.rowcount == 1
    with backend.reading() as conn:
        assert conn.execute(select(files.c.lease_expires, files.c.file_name)
                            .where(files.c.load_id == load_id)).all() == [(None, "f.csv")]



def test_fast_executemany_declares_every_size(backend):
    """Microsoft's driver's own path, called directly (on Babelfish too, for a table whose INSERT
    it can describe): NVARCHAR(n) and NVARCHAR(max) sizes declared, NULLs, beyond the BMP."""
    with backend.reading() as conn:
        if not backend.driver(conn).declares_sizes:
            pytest.skip("fast_executemany is Microsoft's ODBC driver's path under pyodbc")
    rows = [[f"{i:03d}", value or None, None if i % 3 else value] for i, value in enumerate(AWKWARD)]
    with backend.transaction() as conn:
        backend.create_table(conn, "dbo", "fast", ["n", "a", "b"])
        fill = TableFill(backend, conn, Target("dbo", "fast", ["n", "a", "b"], 7), backend.driver(conn))
        longest = fill.widen_for(rows)
        cursor = backend.dbapi_connection(conn).cursor()
        try:
            fill._executemany(cursor, rows, longest, fast=True)
        finally:
            cursor.close()
    with backend.reading() as conn:
        assert [list(r) for r in conn.exec_driver_sql("SELECT n, a, b FROM dbo.fast ORDER BY n")] == rows



def test_odbc_driver_18s_bulk_copy_loads_a_data_file(mssql_database, tmp_path):
    """Microsoft's ODBC driver's own bulk copy (`monitor/backends/mssql/odbc_bcp.py`: the
    `bcp_initW` / `bcp_colfmt` / `bcp_exec` API, bulk copy switched on before connecting) loads a
    batch written as the bcp data file: every value as written, NULLs kept."""
    urls = driver_urls(mssql_database)
    if ODBC_18 not in urls:
        pytest.skip(f"{ODBC_18} is not registered with unixODBC (tests/odbc_driver.py registers it from PyPI)")
    opened = open_backend(urls[ODBC_18])
    rows = [(f"{i:03d}", v or None, v[::-1] or None, 7) for i, v in enumerate(AWKWARD)
            if "\x1f" not in v and len(v.encode("utf-16-le")) <= 8000]  # NVARCHAR(4000) columns
    try:
        with opened.transaction() as conn:
            opened.create_table(conn, "dbo", "copied", ["n", "a", "b"])
        data = tmp_path / "batch.dat"
        write_bcp_file(data, rows)
        copier = OdbcBulkCopy(opened.engine.dialect.create_connect_args(opened.engine.url)[0][0])
        try:
            assert copier.copy("dbo.copied", data, 4, (BCP_FIELD, BCP_ROW)) == len(rows)
        finally:
            copier.close()
        with opened.reading() as conn:
            got = [tuple(r) for r in conn.exec_driver_sql("SELECT n, a, b, _load_id FROM dbo.copied ORDER BY n")]
        assert got == rows
    finally:
        opened.dispose()
