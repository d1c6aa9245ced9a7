"""SQL Server without a server: every statement the backend sends parses as T-SQL (sqlglot's
`tsql` dialect), awkward identifiers survive quoting, the shipped SQL files parse, and the
driver / bulk-path decisions hold."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import sqlglot
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlglot import ErrorLevel, exp

from monitor.backends import backend_class, ddl, dialect_names, open_backend, views
from monitor.backends.mssql import MssqlBackend
from monitor.backends.mssql.insert_paths import (
    MAX_PARAMS,
    MAX_VALUES_ROWS,
    SQL_WLONGVARCHAR,
    SQL_WVARCHAR,
    DriverInfo,
    InsertPath,
    bcp_can_carry,
    bcp_command,
    choose_insert_path,
    chunk_rows,
    direct_path,
    input_sizes,
    json_ready,
    json_text,
    longest_per_column,
    nulls_mapped,
    row_path,
    rows_copied,
    rows_per_statement,
    write_bcp_file,
)
from monitor.backends.mssql.statements import (
    PROBE_TABLE,
    applock_resource,
    literal,
    probe_type,
    qualified,
    side_table_name,
)
from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.backends.target import Target

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"
NAMES = ["companies", "my table", "a.b", "br]ack[et", 'quo"te', "it's", "Ünïcödé 名前", "x" * 100]
COLUMNS = ["company_number", "reg_address_post_town", "column 3", "odd]name", "it's"]
TARGET_HINT = " WITH (TABLOCK)"


def parse(sql: str) -> list[exp.Expr]:
    """Every statement of `sql` as T-SQL; fails on anything sqlglot cannot parse."""
    parsed = sqlglot.parse(sql, read="tsql", error_level=ErrorLevel.RAISE)
    assert parsed and all(p is not None for p in parsed), sql
    for tree in parsed:
        assert not isinstance(tree, exp.Command), f"not parsed, only passed through: {sql}"
    return [tree for tree in parsed if tree is not None]


def parse_one(sql: str) -> exp.Expr:
    trees = parse(sql)
    assert len(trees) == 1, sql
    return trees[0]


def parse_insert(sql: str, target: str) -> exp.Insert:
    """sqlglot 30 does not parse a target table hint (`INSERT INTO t WITH (TABLOCK) (...)`,
    valid T-SQL); check it sits right after the target, then parse the rest."""
    head = f"INSERT INTO {target}"
    assert sql.startswith((head + " (", head + TARGET_HINT + " (")), sql
    tree = parse_one(head + sql[len(head):].removeprefix(TARGET_HINT))
    assert isinstance(tree, exp.Insert)
    return tree


def table_parts(sql_name: str) -> tuple[str, str]:
    """(schema, table) of a quoted `[schema].[table]` name, as T-SQL reads it."""
    table = parse_one(f"SELECT 1 FROM {sql_name}").find(exp.Table)
    assert table is not None, sql_name
    return table.db, table.name


def national(node: exp.Expression) -> str:
    assert isinstance(node, exp.National), node
    return node.this


# -- quoting ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_quoted_names_read_back_as_written(name):
    assert table_parts(qualified("ref", name)) == ("ref", name)
    assert parse_one(f"SELECT {literal(name)} AS v").find(exp.National).this.replace("''", "'") == name


# -- every statement -------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_table_statements_parse_and_name_the_table(name):
    tree = parse_one(S.create_table("ref", name, COLUMNS, [mssql.NVARCHAR(4000)] * len(COLUMNS)))
    assert isinstance(tree, exp.Create) and tree.kind == "TABLE"
    assert (tree.this.this.db, tree.this.this.name) == ("ref", name)
    assert [c.name for c in tree.find_all(exp.ColumnDef)] == [*COLUMNS, "_load_id"]
    assert "NVARCHAR(4000)" in tree.sql("tsql")

    for sql in (S.drop_table("ref", name), S.drop_table("ref", name, if_exists=True)):
        tree = parse_one(sql)
        dropped = tree.find(exp.Table)
        assert isinstance(tree, exp.Drop) and tree.kind == "TABLE" and (dropped.db, dropped.name) == ("ref", name)
    assert parse_one(S.drop_table("ref", name, if_exists=True)).args["exists"] is True

    tree = parse_one(S.add_column("dbo", name, "it's"))
    assert isinstance(tree, exp.Alter) and tree.this.name == name
    sql = S.add_column("dbo", name, "n", mssql.DECIMAL(38, 10))
    assert "DECIMAL(38, 10)" in sql and isinstance(parse_one(sql), exp.Alter)
    tree = parse_one(S.widen_column("dbo", name, "odd]name"))
    assert isinstance(tree, exp.Alter) and "NVARCHAR(MAX)" in tree.sql("tsql").upper()

    for sql in (S.count_rows("dbo", name), S.rows_of_load("dbo", name, 42), S.max_load_id("dbo", name)):
        tree = parse_one(sql)
        assert isinstance(tree, exp.Select) and tree.find(exp.Table).name == name
    assert "42" in parse_one(S.rows_of_load("dbo", name, 42)).find(exp.Where).sql("tsql")


@pytest.mark.parametrize("name", NAMES)
def test_catalog_lookups_use_literals_that_name_the_table(name):
    for sql in (S.table_id("ref", name), S.column_types("ref", name), S.column_definitions("ref", name)):
        tree = parse_one(sql)
        assert isinstance(tree, exp.Select)
        literals = [national(n).replace("''", "'") for n in tree.find_all(exp.National)]
        assert literals == [name, "ref"]  # the table by its name, in the schema by its name
        assert "OBJECT_ID(" not in sql  # Babelfish keeps a "no such object" answer until the next commit
    tree = parse_one(S.tables_in(name))
    assert national(tree.find(exp.National)).replace("''", "'") == name


@pytest.mark.parametrize("index", ["ix_ingest_events_load", "ix_" + "k" * 70])
def test_an_index_is_looked_up_by_its_name_or_the_name_babelfish_stores(index):
    """Babelfish 4.2 stores `CREATE INDEX ix_ingest_events_load ON ingest_events` as
    `ix_ingest_events_loadingest_eve` + 32 hex digits (seen live); either name is found."""
    tree = parse_one(S.index_id(None, "ingest_events", index))
    literals = sorted(national(n) for n in tree.find_all(exp.National))
    assert literals == sorted([index, "ingest_events", (index + "ingest_events")[:31]])
    assert f"LEN(i.name) = {min(63, len(index) + len('ingest_events') + 32)}" in tree.sql("tsql")
    assert "OBJECT_ID(" not in tree.sql("tsql")


@pytest.mark.parametrize("name", NAMES)
def test_inserts_parse_with_their_parameters_and_load_id(name):
    tree = parse_insert(S.insert_row("dbo", name, COLUMNS, 7), qualified("dbo", name))
    assert tree.this.this.name == name
    assert [c.name for c in tree.this.expressions] == [*COLUMNS, "_load_id"]
    assert len(list(tree.find_all(exp.Placeholder))) == len(COLUMNS)

    sql = S.insert_values("ref", f"{name}__stg_7", COLUMNS, 7, 3, tablock=True)
    assert sql.startswith(f"INSERT INTO {qualified('ref', name + '__stg_7')} WITH (TABLOCK) (")
    tree = parse_insert(sql, qualified("ref", f"{name}__stg_7"))
    assert len(list(tree.find_all(exp.Tuple))) == 3 and len(list(tree.find_all(exp.Placeholder))) == 15

    sql = S.insert_select("ref", name, "ref", side_table_name(name, 7), COLUMNS, tablock=True)
    tree = parse_insert(sql, qualified("ref", name))
    source = tree.expression.find(exp.Table)
    assert (source.db, source.name) == ("ref", f"{name}__bulk_7")


@pytest.mark.parametrize("name", NAMES)
def test_swap_statements_parse_and_rename_with_object(name):
    tree = parse_one(S.select_into("ref", name, "bkp", name))
    assert isinstance(tree, exp.Select)
    assert (tree.find(exp.Into).this.db, tree.find(exp.Into).this.name) == ("bkp", name)
    assert (tree.find(exp.From).this.db, tree.find(exp.From).this.name) == ("ref", name)

    tree = parse_one(S.rename("ref", f"{name}__stg_9", name))
    assert isinstance(tree, exp.Execute) and tree.this.name == "sp_rename"
    old, new, kind = (national(arg).replace("''", "'") for arg in tree.expressions)
    assert table_parts(old) == ("ref", f"{name}__stg_9") and new == name and kind == "OBJECT"


def test_schema_lock_and_transaction_statements_parse():
    assert isinstance(parse_one(S.schema_id("ref")), exp.Select)
    tree = parse_one(S.create_schema("ref"))
    assert isinstance(tree, exp.Create) and tree.kind == "SCHEMA"
    assert isinstance(parse_one(S.trancount), exp.Select)
    assert isinstance(parse_one(S.lock_timeout(10_000)), exp.Set)
    declare, call, select = parse(S.applock(applock_resource("ref", "it's a table")))
    assert isinstance(declare, exp.Declare) and isinstance(select, exp.Select)
    assert isinstance(call, exp.Execute) and call.find(exp.Table).name == "sp_getapplock"
    args = {eq.this.name: eq.expression for eq in call.expressions}
    args = {key: national(value) if isinstance(value, exp.National) else value.this for key, value in args.items()}
    assert args["LockOwner"] == "Transaction" and args["LockMode"] == "Exclusive" and int(args["LockTimeout"]) > 0
    assert args["Resource"].replace("''", "'") == "ingest-monitor:ref.it's a table"
    tree = parse_one(S.initialised(["ref", "bkp"], ["ingest_files"], views.VIEW_NAMES))
    nationals = len(list(tree.find_all(exp.National)))
    assert isinstance(tree, exp.Select) and nationals == 2 + 1 + len(views.VIEW_NAMES)


def test_applock_resources_fit_and_stay_distinct():
    long_a, long_b = applock_resource("ref", "t" * 300 + "a"), applock_resource("ref", "t" * 300 + "b")
    assert len(long_a) <= 255 and len(long_b) <= 255 and long_a != long_b


def test_the_backend_sends_only_statements_built_here():
    """Every execute in the backend takes a `MssqlStatements` statement, so the tests above
    cover everything it sends (the catalog DDL and views are covered below)."""
    package = ROOT / "monitor" / "backends" / "mssql"
    modules = ("__init__.py", "fill.py", "probe.py", "side_tables.py")  # every module that sends SQL
    trees = [ast.parse((package / name).read_text()) for name in modules]
    sends = ("exec_driver_sql", "execute", "executemany")
    calls = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr in sends]
    assert len(calls) >= 15
    for call in calls:
        arg = call.args[0]
        built_here = (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute)
                      and isinstance(arg.func.value, ast.Name) and arg.func.value.id == "S")
        from_s = isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "S"
        assert built_here or from_s or (isinstance(arg, ast.Name) and arg.id in ("sql", "full")), ast.dump(call)
    sql_module = ast.parse((package / "statements.py").read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(sql_module)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    strings = " ".join(node.value.upper() for node in ast.walk(sql_module)
                       if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings)
    assert "SP_RENAME" in strings and "'OBJECT'" in strings
    for banned in ("MERGE", "READPAST", "ALTER SCHEMA", "TRANSFER"):  # Babelfish rejects or ignores them
        assert banned not in strings


# -- the shipped SQL files -------------------------------------------------------------
def go_batches(text: str) -> list[str]:
    chunks = re.split(r"^GO$", text, flags=re.MULTILINE)
    return [c.strip().rstrip(";") for c in chunks if re.sub(r"--[^\n]*", "", c).strip()]


def test_catalog_ddl_parses_as_tsql():
    for statement in ddl.statements("mssql"):
        tree = parse_one(statement)
        assert isinstance(tree, exp.Create) and tree.kind in ("TABLE", "INDEX")
    batches = go_batches((SQL / "mssql" / "schema.sql").read_text())
    dynamic = [b for b in batches if b.lstrip("-\n ").startswith("IF ") or "\nIF " in b]
    assert len(dynamic) == 2  # IF SCHEMA_ID(...) IS NULL EXEC(N'CREATE SCHEMA ...'): check the inner SQL
    for batch in dynamic:
        inner = re.search(r"EXEC\(N'(.*)'\)", batch).group(1).replace("''", "'")
        assert parse_one(inner).kind == "SCHEMA"
    others = [b for b in batches if b not in dynamic]
    assert len(others) == len(ddl.statements("mssql"))
    for batch in others:
        parse_one(re.sub(r"^--[^\n]*\n", "", batch, flags=re.MULTILINE))


@pytest.mark.parametrize("dialect", dialect_names())
def test_view_files_are_generated_from_the_module(dialect):
    sql = backend_class(dialect).view_sql
    path = SQL / sql.folder / "views.sql"
    regenerate = "regenerate: python -m monitor.backends.sql_files --write"
    assert path.read_text() == views.render_views(sql, dialect), regenerate


def test_views_parse_as_tsql():
    forms = MssqlBackend.view_sql
    for name, statement in zip(views.VIEW_NAMES, views.statements(forms), strict=True):
        tree = parse_one(statement)
        assert isinstance(tree, exp.Create) and tree.kind == "VIEW" and tree.this.name == name
        assert "CREATE OR ALTER VIEW" in statement
        tree = parse_one(S.create_view(name))  # what the daemon runs when the view is missing
        assert isinstance(tree, exp.Create) and tree.kind == "VIEW" and tree.this.name == name
        assert isinstance(parse_one(S.view_id(name)), exp.Select)
    assert len(go_batches((SQL / "mssql" / "views.sql").read_text())) == len(views.VIEW_NAMES)


def named_queries(text: str) -> dict[str, str]:
    """`-- name: x` blocks of an audit_queries.sql file."""
    out = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        out[name.strip()] = re.sub(r"^GO$", "", body, flags=re.MULTILINE).strip()
    return out


def test_audit_queries_parse_as_tsql_and_match_the_other_dialects():
    queries = named_queries((SQL / "mssql" / "audit_queries.sql").read_text())
    assert len(queries) >= 8
    for name, sql in queries.items():
        tree = parse_one(sql)
        assert isinstance(tree, exp.Select), name
    for folder in ("postgres", "sqlite"):
        assert set(named_queries((SQL / folder / "audit_queries.sql").read_text())) == set(queries)


# -- the driver decides the path -------------------------------------------------------
FREETDS = DriverInfo("pyodbc", "libtdsodbc.so", "01.03.0017")
MSODBC18 = DriverInfo("pyodbc", "libmsodbcsql-18.3.so.2.1", "18.03.0002")


@pytest.mark.parametrize(("driver", "path"), [
    (FREETDS, InsertPath.JSON_ROWS),
    (DriverInfo("pyodbc", "libtdsodbc.so", "01.04.0020"), InsertPath.JSON_ROWS),
    (MSODBC18, InsertPath.FAST_EXECUTEMANY),
    (DriverInfo("pyodbc", "msodbcsql17.dll", "17.10.0006"), InsertPath.FAST_EXECUTEMANY),
    (DriverInfo("pyodbc", "SQLSRV32.DLL", "10.00.19041"), InsertPath.MULTIROW_VALUES),
    (DriverInfo("mssql_python", "libmsodbcsql-18.6.so.2.1", "18.06.0002"), InsertPath.BULKCOPY),
])
def test_driver_chooses_its_path(driver, path):
    assert choose_insert_path(driver) is path
    assert choose_insert_path(driver, bcp=True, bcp_found=False) is path
    assert choose_insert_path(driver, bcp=True, bcp_found=True) is InsertPath.BCP
    assert choose_insert_path(driver, bulk_copy=False) is direct_path(driver)  # bulk copy off: Babelfish's default
    assert direct_path(driver) in (InsertPath.MULTIROW_VALUES, InsertPath.FAST_EXECUTEMANY, InsertPath.JSON_ROWS)
    assert direct_path(driver) is not InsertPath.FAST_EXECUTEMANY or not driver.is_freetds
    assert row_path(driver) in (InsertPath.MULTIROW_VALUES, InsertPath.EXECUTEMANY)


@pytest.mark.parametrize(("row", "ready"), [
    (["plain", "", None, "é 名前 ü", "\u2028 and \u0085 and \x7f", "x" * 4000], True),
    (['say "hi"'], False),  # an escape Babelfish hands back unread
    (["back\\slash"], False),
    (["line\nbreak"], False), (["tab\t"], False), (["\x01"], False),
    (["😀"], False),  # beyond the BMP
    (["x" * 4001], False),  # wider than NVARCHAR(4000)
])
def test_rows_travel_as_json_only_when_no_engine_reads_them_otherwise(row, ready):
    assert json_ready(row) is ready
    if ready:
        text = json_text([row, row])
        assert "\\" not in text and json.loads(text) == [row, row]


@pytest.mark.parametrize("name", NAMES)
def test_json_rows_insert_parses_and_maps_each_column_by_position(name):
    sql = S.insert_json("ref", name, COLUMNS, 42, tablock=True)
    tree = parse_insert(sql, qualified("ref", name))
    assert [c.name for c in tree.this.expressions] == [*COLUMNS, "_load_id"]
    assert "OPENJSON" in sql.upper() and sql.count("?") == 1
    assert [f" '$[{i}]'" in sql for i in range(len(COLUMNS))] == [True] * len(COLUMNS)  # Babelfish: no N'...' path


@pytest.mark.parametrize("columns", [1, 2, 3, 55, 56, 200, 1024, 5000])
def test_multirow_values_stay_within_the_limits(columns):
    rows = rows_per_statement(columns)
    assert 1 <= rows <= MAX_VALUES_ROWS
    assert rows * columns <= MAX_PARAMS or rows == 1
    assert (rows + 1) * columns > MAX_PARAMS or rows == MAX_VALUES_ROWS


def test_input_sizes_come_from_the_columns_and_values():
    sizes = input_sizes([4000, 4000, 20, -1, -1, 0], [10, 3000, 10, 10, 9000, 7])
    assert sizes == [(SQL_WVARCHAR, 32, 0), (SQL_WVARCHAR, 4000, 0), (SQL_WVARCHAR, 20, 0),
                     (SQL_WVARCHAR, 32, 0), (SQL_WLONGVARCHAR, 0, 0), (SQL_WVARCHAR, 32, 0)]
    assert chunk_rows([(SQL_WVARCHAR, 4000, 0)] * 55) * 55 * 8002 <= 32 * 1024 * 1024
    assert chunk_rows([(SQL_WVARCHAR, 32, 0)] * 3) > 100_000


def test_lengths_count_utf16_units_as_nvarchar_does():
    rows = [("abc", "😀" * 3, None), ("é" * 5, "", "x" * 4001)]
    assert longest_per_column(rows, 3) == [5, 6, 4001]
    assert longest_per_column([], 2) == [0, 0]


def test_null_tokens_become_none_in_copies():
    rows = [["a", "", "NULL"], ["", "b", "n/a"]]
    assert nulls_mapped(rows, [""]) == [["a", None, "NULL"], [None, "b", "n/a"]]
    assert nulls_mapped(rows, ["", "NULL", "n/a"]) == [["a", None, None], [None, "b", None]]
    assert nulls_mapped(rows, []) == rows and rows == [["a", "", "NULL"], ["", "b", "n/a"]]


def test_targets_and_side_tables():
    staging = Target("ref", "companies__stg_12", ["a"], 12, destination="companies")
    assert staging.key == Target("ref", "companies", ["a"], 12).key == "ref.companies"
    assert staging.into("companies__stg_13", fresh=True).key == "ref.companies"
    assert side_table_name("companies__stg_12", 12) == "companies__stg_12__bulk_12"


# -- bcp ---------------------------------------------------------------------------------
def test_bcp_command_for_sql_and_integrated_logins():
    url = make_url("mssql+pyodbc://loader:s3cret@sql01:1433/warehouse?driver=ODBC+Driver+18+for+SQL+Server"
                   "&TrustServerCertificate=yes")
    argv = bcp_command(url, "[dbo].[t__bulk_1]", Path("/tmp/b.dat"), 500)
    assert argv[:4] == ["bcp", "[dbo].[t__bulk_1]", "in", "/tmp/b.dat"]
    assert argv[argv.index("-S") + 1] == "sql01,1433" and argv[argv.index("-d") + 1] == "warehouse"
    assert argv[argv.index("-U") + 1] == "loader" and argv[argv.index("-P") + 1] == "s3cret"
    assert {"-w", "-k", "-u"} <= set(argv) and argv[argv.index("-h") + 1] == "TABLOCK"
    assert argv[argv.index("-b") + 1] == "500"
    trusted = bcp_command(make_url("mssql+pyodbc://sql01/warehouse?Trusted_Connection=yes"), "t", Path("f"), 1)
    assert "-T" in trusted and "-P" not in trusted and "-u" not in trusted


def test_bcp_data_files_and_output(tmp_path):
    rows = [("a", None, 5), ("b c", "d", 5)]
    write_bcp_file(tmp_path / "b.dat", rows)
    assert (tmp_path / "b.dat").read_bytes().decode("utf-16-le") == "a\x1f\x1f5\x1e\nb c\x1fd\x1f5\x1e\n"
    assert bcp_can_carry(rows) and not bcp_can_carry([("",)]) and not bcp_can_carry([("a\x1fb",)])
    assert rows_copied("\nStarting copy...\n2 rows copied.\nNetwork packet size (bytes): 4096\n") == 2
    assert rows_copied("Error = [Microsoft][ODBC Driver 18 for SQL Server]Login failed") is None


# -- real drivers, no server -----------------------------------------------------------
def test_freetds_is_installed_for_pyodbc():
    import pyodbc  # needs unixODBC's libodbc.so.2 (.ci/run installs it with FreeTDS)

    assert "FreeTDS" in pyodbc.drivers()


def test_mssql_urls_open_the_sql_server_backend(monkeypatch):
    monkeypatch.setenv("INGEST_DATABASE_PASSWORD", "from-the-env")
    backend = open_backend("mssql://loader@127.0.0.1:1/warehouse?driver=FreeTDS&TDS_Version=7.4")
    try:
        assert isinstance(backend, MssqlBackend) and backend.engine.dialect.driver == "pyodbc"
        assert backend.default_schema == "dbo" and backend.engine.url.password == "from-the-env"
        assert "from-the-env" not in backend.engine.url.render_as_string(hide_password=True)
        with pytest.raises(DBAPIError) as caught:  # the real FreeTDS driver, nothing listening
            backend.ping()
        assert "from-the-env" not in str(caught.value)
    finally:
        backend.dispose()
    other = open_backend("mssql+mssqlpython://loader:pw@sql01/warehouse?Encrypt=yes&TrustServerCertificate=yes")
    assert isinstance(other, MssqlBackend) and other.engine.dialect.driver == "mssqlpython"
    connect_string = other.engine.dialect.create_connect_args(other.engine.url)[0][0]
    assert "Encrypt=yes" in connect_string and "TrustServerCertificate=yes" in connect_string


# -- the forms Babelfish reads otherwise (seen on Babelfish 4.2; never sent again) -------------
def test_a_plain_table_is_renamed_by_its_unquoted_name():
    assert S.rename("ref", "companies__stg_1", "companies") == \
        "EXEC sp_rename N'ref.companies__stg_1', N'companies', N'OBJECT'"
    assert S.rename("bkp", "Companies", "Companies__load_7").startswith("EXEC sp_rename N'bkp.Companies', ")
    awkward = S.rename("ref", "it's a [big] table.v2", "x")  # SQL Server only: Babelfish copies such tables
    assert national(parse_one(awkward).find(exp.National)) == '[ref]."it\'s a [big] table.v2"'


@pytest.mark.parametrize("name", [*NAMES, "it's a [big] table.v2"])
def test_no_identifier_is_sent_with_a_doubled_closing_bracket(name):
    statements = [S.create_table("ref", name, COLUMNS, [mssql.NVARCHAR(4000)] * len(COLUMNS)),
                  S.add_column("ref", name, "odd]name"), S.widen_column("ref", name, "odd]name"),
                  S.select_into("ref", name, "bkp", name), S.drop_table("ref", name), S.table_id("ref", name),
                  S.insert_row("ref", name, COLUMNS, 1), S.rename("ref", name, name + "2")]
    for sql in statements:
        assert "]]" not in sql, sql
        parse(sql)


def test_widening_a_column_says_no_nullability():
    sql = S.widen_column("dbo", "contacts", "note")
    assert sql == "ALTER TABLE [dbo].[contacts] ALTER COLUMN [note] NVARCHAR(max)"
    assert " NULL" not in sql.upper()


def test_names_holding_a_closing_bracket_are_double_quoted():
    assert qualified("ref", "br]ack[et") == '[ref]."br]ack[et"'
    assert table_parts(qualified("ref", 'q"u]ote')) == ("ref", 'q"u]ote')


def test_the_probe_table_of_careful_mode_parses_and_keeps_each_type():
    columns = [("company_number", probe_type("nvarchar", 0, 0)), ("odd]name", probe_type("bigint", 19, 0)),
               ("amount", probe_type("decimal", 38, 10)), ("at", probe_type("datetime2", 27, 7))]
    tree = parse_one(S.create_probe(columns))
    assert isinstance(tree, exp.Create) and "#" + tree.this.this.name == PROBE_TABLE  # a session (temporary) table
    assert [c.name for c in tree.find_all(exp.ColumnDef)] == ["company_number", "odd]name", "amount", "at"]
    assert [t for _, t in columns] == ["NVARCHAR(max)", "BIGINT", "DECIMAL(38, 10)", "DATETIME2(7)"]
    assert isinstance(parse_one(S.column_definitions("ref", "it's a [big] table.v2")), exp.Select)
    parse_insert(S.insert_row(None, PROBE_TABLE, ["a", "odd]name"], 3), qualified(None, PROBE_TABLE))


def test_an_index_is_dropped_on_its_table():
    tree = parse_one(S.drop_index("dbo", "ingest_files", "ix_ingest_files_set"))
    assert isinstance(tree, exp.Drop) and "ON [dbo].[ingest_files]" in S.drop_index("dbo", "ingest_files", "ix_x")
