"""SQL Server's probes: a driver error read as a refused write (the drivers' own exception
classes, wrapped as SQLAlchemy wraps them; no server), and, against the server of `MSSQL_URL`,
whether the loader may write and which database a URL reaches."""

from __future__ import annotations

import uuid

import pytest
from conftest import engine_for, is_babelfish
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from monitor.backends import open_backend
from monitor.backends.mssql import MssqlBackend
from monitor.backends.mssql.connect import is_freetds
from monitor.backends.mssql.writable import port, refusal
from monitor.load import setup

pyodbc = pytest.importorskip("pyodbc")
mssql_exceptions = pytest.importorskip("mssql_python.exceptions")


def from_pyodbc(state: str, message: str, number: int | None) -> DBAPIError:
    """A pyodbc error as pyodbc words it (`[state] message (number) (function)`), wrapped."""
    said = f"[{state}] [FreeTDS][SQL Server]{message}" + (f" ({number}) (SQLExecDirectW)" if number else "")
    return DBAPIError.instance("INSERT ...", None, pyodbc.ProgrammingError(state, said), pyodbc.Error)


def from_mssql_python(message: str) -> DBAPIError:
    """An mssql-python error as it raises one for SQL state 42000 (the server's number dropped)."""
    orig = mssql_exceptions.sqlstate_to_exception("42000", f"[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]"
                                                            f"{message}")
    return DBAPIError.instance("INSERT ...", None, orig, mssql_exceptions.Error)


DENIED_INSERT = "The INSERT permission was denied on the object 'ingest_files', database 'im', schema 'dbo'."
REFUSALS = [  # (message, number, cause)
    ('Failed to update database "im" because the database is read-only.', 3906, "the database is read-only"),
    (DENIED_INSERT, 229, "the loader's user may not write"),
    ("The UPDATE permission was denied on the column 'status' of the object 'ingest_files', database 'im', "
     "schema 'dbo'.", 230, "the loader's user may not write"),
    ("CREATE TABLE permission denied in database 'im'.", 262, "the loader's user may not write"),
    ('The specified schema name "ref" either does not exist or you do not have permission to use it.', 2760,
     "the loader's user may not write"),
    ("permission denied for table ingest_files", 33557097, "the loader's user may not write"),  # Babelfish
    ("cannot execute INSERT in a read-only transaction", 33557097, "the database is read-only"),  # Babelfish
]
NOT_REFUSALS = [
    ("Conversion failed when converting the nvarchar value 'x' to data type int.", 245),
    ("Invalid object name 'dbo.contacts (229)'.", 208),  # a refusal's number inside a name
    ("Transaction (Process ID 61) was deadlocked on lock resources with another process.", 1205),
    ("permission denied to create database", 33557097),  # not a load's write
]


@pytest.mark.parametrize(("message", "number", "cause"), REFUSALS)
def test_a_refused_write_is_named_through_either_driver(message, number, cause):
    for exc in (from_pyodbc("42000", message, number), from_mssql_python(message)):
        assert refusal(exc) == f"{cause}: {message}"


def test_a_refusal_is_read_by_its_number_in_any_language():
    said = "L'autorisation INSERT a été refusée sur l'objet 'ingest_files', base de données 'im', schéma 'dbo'."
    assert refusal(from_pyodbc("42000", said, 229)) == f"the loader's user may not write: {said}"
    assert refusal(from_pyodbc("42000", "Échec de la mise à jour de la base de données.", 3906)) == (
        "the database is read-only: Échec de la mise à jour de la base de données.")


def test_a_refusal_among_several_messages_is_found():
    prepared = "[42000] [FreeTDS][SQL Server]Statement(s) could not be prepared. (8180)"
    denied = f"[42000] [FreeTDS][SQL Server]{DENIED_INSERT} (229) (SQLExecDirectW)"
    for said in (f"{denied}; {prepared}", f"{prepared} (SQLExecDirectW); {denied}"):
        exc = DBAPIError.instance("INSERT ...", None, pyodbc.ProgrammingError("42000", said), pyodbc.Error)
        assert refusal(exc) == f"the loader's user may not write: {DENIED_INSERT}"


@pytest.mark.parametrize(("message", "number"), NOT_REFUSALS)
def test_other_errors_are_not_refusals(message, number):
    assert refusal(from_pyodbc("42000", message, number)) is None
    assert refusal(from_mssql_python(message)) is None


def test_errors_that_are_not_the_servers_are_not_refusals():
    lost = pyodbc.OperationalError("08S01", "[08S01] [FreeTDS][SQL Server]Communication link failure (0) "
                                            "(SQLExecDirectW)")
    assert refusal(DBAPIError.instance("SELECT 1", None, lost, pyodbc.Error)) is None
    assert refusal(RuntimeError("could not lock dbo.t (sp_getapplock returned -1)")) is None
    assert refusal(pyodbc.Error("no arguments but one")) is None


@pytest.mark.parametrize(("url", "expected"), [
    ("mssql+pyodbc://u:p@db.example/x?driver=FreeTDS&port=14330", 14330),
    ("mssql+pyodbc://u:p@db.example/x?driver=FreeTDS&Port=14330", 14330),
    ("mssql+mssqlpython://u:p@db.example:14330/x", 14330),
    ("mssql+pyodbc://u:p@db.example/x?driver=FreeTDS", 1433),
])
def test_the_port_a_url_reaches(url, expected):
    assert port(make_url(url)) == expected


# -- against the server of MSSQL_URL ----------------------------------------------------
@pytest.mark.mssql
def test_the_sysadmin_login_may_write(mssql_database):
    backend = open_backend(mssql_database)
    try:
        assert backend.write_problem() is None  # a fresh database: the daemon's tables not yet made
        setup.init_db(backend)
        assert backend.write_problem() is None
    finally:
        backend.dispose()


@pytest.mark.mssql
def test_a_user_without_create_table_is_named(mssql_database):
    name = f"im_probe_{uuid.uuid4().hex[:10]}"
    password = f"Im-{uuid.uuid4().hex[:12]}-9a!"
    admin = engine_for(mssql_database, isolation_level="AUTOCOMMIT")
    url = make_url(mssql_database)
    database = url.database
    loader: MssqlBackend | None = None
    try:
        with admin.connect() as conn:
            try:
                conn.exec_driver_sql(f"CREATE LOGIN [{name}] WITH PASSWORD = '{password}'")
                conn.exec_driver_sql(f"CREATE USER [{name}] FOR LOGIN [{name}]")
            except DBAPIError as exc:
                pytest.skip(f"the server refused a login and user: {str(exc.orig).splitlines()[0]}")
        opened = open_backend(url.set(username=name, password=password).render_as_string(hide_password=False))
        assert isinstance(opened, MssqlBackend)
        loader = opened
        found = loader.write_problem()
        assert found is not None and f"user {name} " in found and f"database {database}" in found, found
        if is_babelfish(mssql_database):  # no GRANT CREATE TABLE there: PostgreSQL's CREATE on the schema
            assert "may not create tables in the schema dbo" in found and "GRANT CREATE ON SCHEMA" in found, found
        else:
            assert f"may not create tables in the database {database}" in found, found
            assert f"GRANT CREATE TABLE TO [{name}]" in found, found
        with pytest.raises(DBAPIError) as refused:  # the write itself, refused by the server
            setup.init_db(loader)
        said = loader.write_refusal(refused.value)
        assert said is not None and said.startswith("the loader's user may not write: "), refused.value
    finally:
        if loader is not None:
            loader.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"IF USER_ID(N'{name}') IS NOT NULL DROP USER [{name}]")
            conn.exec_driver_sql(f"IF SUSER_ID(N'{name}') IS NOT NULL DROP LOGIN [{name}]")
        admin.dispose()


def spellings(url: str) -> list[str]:
    """`url`, and the same database with the host's other name, with the port written the other
    way (`host:port` or `?port=`), and without the default port (FreeTDS here needs one)."""
    parsed = make_url(url)
    query = {key: value for key, value in parsed.query.items() if key.lower() != "port"}
    written, others = port(parsed), {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
    found = [parsed]
    if parsed.host in others:
        found.append(parsed.set(host=others[parsed.host]))
    if parsed.port:
        found.append(parsed.set(port=None, query={**query, "port": str(written)}))
    elif written:
        found.append(parsed.set(port=written, query=query))
    if written == 1433 and not is_freetds(parsed):
        found.append(parsed.set(port=None, query=query))
    return [each.render_as_string(hide_password=False) for each in found]


@pytest.mark.mssql
def test_two_spellings_of_one_database_are_one_identity(mssql_database):
    urls = spellings(mssql_database)
    found = set()
    for url in urls:
        backend = open_backend(url)
        try:
            found.add(backend.identity())
        finally:
            backend.dispose()
    [identity] = found
    name = make_url(mssql_database).database
    assert identity.startswith("mssql:") and identity.endswith(f":{port(make_url(mssql_database))}/{name}"), identity
