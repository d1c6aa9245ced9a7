"""SQL Server end to end, through both drivers (pyodbc and mssql-python), against the server
of `MSSQL_URL` (a fresh database per test). Without MSSQL_URL every test here is skipped.

    export MSSQL_URL='mssql+pyodbc://sa:...@127.0.0.1:1433/master?driver=ODBC+Driver+18+for+SQL+Server'
    MSSQL_URL="$MSSQL_URL&TrustServerCertificate=yes" .venv/bin/python -m pytest -m mssql

(the README's SQL Server section has the container and Windows recipes).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import COMPANIES, CONTACTS, engine_for, is_babelfish, write_csv
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from monitor.backends import open_backend
from monitor.backends.mssql import MssqlBackend
from monitor.demo.companies_house import write_companies_house
from monitor.load import setup

pytestmark = pytest.mark.mssql
HEADER = ["First Name", "Last Name", "# Employees", " Company.Name"]


def as_driver(url: str, driver: str) -> str:
    """The same server and login through another driver."""
    parsed = make_url(url)
    query = {k: v for k, v in parsed.query.items() if k.lower() not in ("driver", "tds_version")}
    if driver == "mssqlpython":
        return parsed.set(drivername="mssql+mssqlpython", query=query).render_as_string(hide_password=False)
    if parsed.drivername in ("mssql", "mssql+pyodbc"):
        return url
    import pyodbc

    odbc = next((name for name in pyodbc.drivers() if "for SQL Server" in name), "FreeTDS")
    extra = {"driver": odbc, **({"TDS_Version": "7.4"} if odbc == "FreeTDS" else {})}
    return parsed.set(drivername="mssql+pyodbc", query={**query, **extra}).render_as_string(hide_password=False)


@pytest.fixture(params=["pyodbc", "mssqlpython"])
def backend_url(request: pytest.FixtureRequest, mssql_database: str) -> str:
    """This module's tests run on SQL Server only, once per driver."""
    return as_driver(mssql_database, request.param)


def contacts(path: Path, rows: int, start: int = 0) -> Path:
    return write_csv(path, HEADER, [[f"first{i}", f"last{i}", str(i), f"co {i}"] for i in range(start, start + rows)])


def tables_in(ws, schema: str) -> set[str]:
    return {r[0] for r in ws.query("SELECT t.name FROM sys.tables AS t WHERE t.schema_id = SCHEMA_ID(:s)", s=schema)}


def test_init_db_creates_schemas_tables_and_views(make_workspace):
    ws = make_workspace(CONTACTS)
    first = ws.cli("init-db")
    ws.cli("init-db")
    shown = make_url(ws.url).render_as_string(hide_password=True)  # as written, the password hidden
    assert f"({shown})" in first.stdout and "any_engine" not in first.stdout + first.stderr, first.stdout
    assert {r[0] for r in ws.query("SELECT name FROM sys.schemas")} >= {"ref", "bkp", "dbo"}
    assert tables_in(ws, "dbo") >= {"ingest_files", "ingest_events", "ingest_rejects"}
    views = {r[0] for r in ws.query("SELECT name FROM sys.views")}
    assert views >= {"ingest_recent_loads", "ingest_failures_24h", "ingest_rows_per_target_day", "ingest_lineage"}


def test_fullload_keeps_backups_with_sp_rename(make_workspace, tmp_path):
    ws = make_workspace({**COMPANIES, "backups": 2})
    ids = []
    for seed in range(3):
        path = write_companies_house(tmp_path / f"BasicCompanyData-{seed}.csv", 10 + seed, seed=seed, zipped=False)
        ws.cli("ingest", str(path))
        ids.append(ws.status()[-1]["load_id"])
    assert [r["status"] for r in ws.status()] == ["loaded"] * 3
    assert ws.query("SELECT COUNT(*), MAX(_load_id) FROM ref.companies") == [(12, ids[2])]
    assert ws.query("SELECT COUNT(*), MAX(_load_id) FROM bkp.companies") == [(11, ids[1])]
    assert tables_in(ws, "bkp") == {"companies", f"companies__load_{ids[0]}"}
    assert tables_in(ws, "ref") == {"companies"}  # no staging or side table left behind
    numbers = {r[0] for r in ws.query("SELECT company_number FROM ref.companies")}
    assert all(len(n) == 8 for n in numbers)


def test_append_twice_then_a_duplicate(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    ws.cli("ingest", str(contacts(tmp_path / "a.csv", 10)))
    ws.cli("ingest", str(contacts(tmp_path / "b.csv", 7, start=100)))
    copy = tmp_path / "b-copy.csv"
    copy.write_bytes((tmp_path / "b.csv").read_bytes())
    ws.cli("ingest", str(copy))
    records = ws.status()
    assert [(r["status"], r["rows_loaded"]) for r in records] == [("loaded", 10), ("loaded", 7), ("duplicate", 0)]
    per_load = ws.query("SELECT _load_id, COUNT(*) FROM dbo.contacts GROUP BY _load_id ORDER BY _load_id")
    assert per_load == [(records[0]["load_id"], 10), (records[1]["load_id"], 7)]
    assert ws.query("SELECT num_employees, company_name FROM dbo.contacts WHERE first_name = 'first100'") == [
        ("100", "co 100")]
    assert tables_in(ws, "dbo") == {"contacts", "ingest_files", "ingest_events", "ingest_rejects", "ingest_meta",
                                    "ingest_sets"}


def test_awkward_table_names_load_and_swap(make_workspace, tmp_path):
    name = "it's a [big] table v2"  # a dot is refused: `ref.x` would read as a schema
    ws = make_workspace({**COMPANIES, "table": name, "backups": 1},
                        {**CONTACTS, "table": 'contacts "2026"', "pattern": "*.csv"})
    for seed in (1, 2):
        ws.cli("ingest", "--rule", name, str(write_companies_house(tmp_path / f"BasicCompanyData-{seed}.csv",
                                                                   5 * seed, seed=seed, zipped=False)))
    ws.cli("ingest", "--rule", 'contacts "2026"', str(contacts(tmp_path / "c.csv", 3)))
    assert [r["status"] for r in ws.status()] == ["loaded"] * 3
    # double-quoted: Babelfish reads no `]]` inside brackets (SQL Server reads both forms)
    assert ws.query('SELECT COUNT(*) FROM ref."it\'s a [big] table v2"') == [(10,)]
    assert ws.query('SELECT COUNT(*) FROM bkp."it\'s a [big] table v2"') == [(5,)]
    assert ws.query('SELECT COUNT(*) FROM dbo.[contacts "2026"]') == [(3,)]


def test_values_longer_than_4000_widen_their_column(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    long_value = "é😀" * 2500 + "end"  # 7,503 UTF-16 units
    path = write_csv(tmp_path / "long.csv", HEADER, [["a", long_value, "1", "co"], ["b", "short", "2", "co"]])
    ws.cli("ingest", str(path))
    assert ws.status()[0]["status"] == "loaded"
    assert ws.query("SELECT last_name FROM dbo.contacts WHERE first_name = 'a'") == [(long_value,)]
    widths = dict(ws.query("SELECT c.name, c.max_length FROM sys.columns AS c "
                           "WHERE c.object_id = OBJECT_ID(N'dbo.contacts')"))
    assert widths["last_name"] == -1 and widths["first_name"] == 8000  # NVARCHAR(max) and NVARCHAR(4000)


def test_the_original_error_is_reported_when_the_server_ended_the_transaction(backend_url):
    backend = open_backend(backend_url)
    assert isinstance(backend, MssqlBackend)
    try:
        setup.init_db(backend)
        with pytest.raises(DBAPIError) as caught, backend.transaction() as conn:
            conn.exec_driver_sql("SET XACT_ABORT ON")  # any error now ends the transaction server-side
            conn.exec_driver_sql("SELECT CAST(N'not a number' AS int)")
        message = str(caught.value)
        assert "not a number" in message or "245" in message, message
        assert "ROLLBACK" not in message.upper() and "3903" not in message
        with backend.transaction() as conn:
            assert conn.exec_driver_sql("SELECT @@TRANCOUNT").scalar() == 1
    finally:
        backend.dispose()


def test_readers_see_the_old_or_the_new_table_during_a_fullload(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES)
    ws.cli("ingest", str(write_companies_house(tmp_path / "BasicCompanyData-1.csv", 300, seed=1, zipped=False)))
    seen: list[int] = []
    errors: list[str] = []
    stop = threading.Event()
    engine = engine_for(ws.url)

    def read() -> None:
        while not stop.is_set():
            try:
                with engine.connect() as conn:
                    seen.append(conn.exec_driver_sql("SELECT COUNT(*) FROM ref.companies").scalar())
            except Exception as exc:
                errors.append(str(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        ws.cli("ingest", str(write_companies_house(tmp_path / "BasicCompanyData-2.csv", 700, seed=2, zipped=False)))
    finally:
        stop.set()
        reader.join(timeout=60)
        engine.dispose()
    assert not errors, errors[:3]
    assert set(seen) <= {300, 700} and 300 in seen


def test_a_null_set_by_an_update_keeps_the_transaction_whole(backend_url):
    """mssql-python asks the server to describe NULL parameters; Babelfish fails to describe an
    UPDATE whose WHERE names `table.column` and ends the transaction unannounced. The backend
    sends such NULLs inline: the row inserted before the UPDATE is still there after it."""
    from sqlalchemy import insert, select, update

    from monitor.catalog import files
    from monitor.load.state.machine import utcnow

    backend = open_backend(backend_url)
    try:
        setup.init_db(backend)
        with backend.transaction() as conn:
            load_id = conn.execute(insert(files).values(
                file_name="f.csv", source_path="/in/f.csv", sha256="ab" * 32, size_bytes=1, target_schema="dbo",
                target_table="t", mode="append", status="duplicate", started_at=utcnow(), lease_expires=utcnow(),
            )).inserted_primary_key[0]
            changed = conn.execute(update(files).where(files.c.load_id == load_id)
                                   .values(lease_expires=None, pending_move_to=None))
            assert changed.rowcount == 1
        with backend.reading() as conn:
            assert conn.execute(select(files.c.lease_expires).where(files.c.load_id == load_id)).all() == [(None,)]
    finally:
        backend.dispose()


def test_mssql_python_tries_its_bulk_copy_first_and_falls_back_without_losing_a_row(make_workspace, tmp_path,
                                                                                   backend_url):
    """mssql-python's TDS bulk copy goes first (on Babelfish only with `bulk_copy: always`, as
    it panics there: "dest is out of bounds"); where it fails, the direct path takes the batch,
    and no row is lost, doubled or left in a side table."""
    if make_url(backend_url).get_driver_name() != "mssqlpython":
        pytest.skip("mssql-python's bulk copy: the pyodbc run of this test has nothing to try")
    babelfish = is_babelfish(backend_url)
    for mode, start in (("auto", 0), ("always", 2500)):  # into one table, a file each
        ws = make_workspace(CONTACTS, backend={"mssql": {"bulk_copy": mode}})
        result = ws.cli("ingest", str(contacts(tmp_path / f"{mode}.csv", 2500, start)))
        tried = mode == "always" or not babelfish
        fell_back = "bulk path failed for" in result.stderr
        assert fell_back == (tried and babelfish), result.stderr
        assert ("PanicException" in result.stderr) == fell_back and ("panicked" in result.stderr) == fell_back
        assert ws.status()[-1]["rows_loaded"] == 2500
        assert ws.query("SELECT COUNT(*), COUNT(DISTINCT first_name) FROM dbo.contacts") == [(start + 2500,) * 2]
        assert not [t for t in tables_in(ws, "dbo") if "__bulk_" in t]
