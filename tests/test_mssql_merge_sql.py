"""A merge on SQL Server without a server: every statement it sends parses as T-SQL (sqlglot's
`tsql` dialect) with awkward names, reads the target under UPDLOCK and HOLDLOCK / SERIALIZABLE,
never uses MERGE, and compares values exactly. The live runs are the `mssql` parameter of the
merge tests (skipped without MSSQL_URL)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable
from sqlglot import exp
from test_mssql_sql import NAMES, parse_one

from monitor.backends.merging import MergePlan, Place, key_index_name, staging_name
from monitor.backends.mssql.column_types import sql_type
from monitor.backends.mssql.statements import MssqlMergeSql, qualified
from monitor.backends.mssql.statements import MssqlStatements as S
from monitor.catalog import merges_table

KEYS = ["email", "it's"]
COLUMNS = [*KEYS, "first]name", "title"]


def plan(name: str) -> MergePlan:
    return MergePlan(Place("dbo", name), Place("dbo", staging_name(name, 7)), Place("bkp", f"{name}__history"),
                     KEYS, COLUMNS, [*COLUMNS, "kept"], 7)


def tables(tree: exp.Expression) -> set[tuple[str, str]]:
    """The schema-qualified tables a statement names (`DELETE s FROM ...` names its alias too)."""
    return {(t.db, t.name) for t in tree.find_all(exp.Table) if t.db}


@pytest.mark.parametrize("name", NAMES)
def test_every_merge_statement_parses_and_names_its_tables(name):
    sql = MssqlMergeSql(plan(name), {"email", "it's", "first]name", "title"})
    target, staging, history = ("dbo", name), ("dbo", staging_name(name, 7)), ("bkp", f"{name}__history")

    tree = parse_one(sql.superseded_keys())
    assert isinstance(tree, exp.Select) and tree.args.get("distinct") and tree.args.get("limit") is not None
    assert tables(tree) == {staging}

    tree = parse_one(sql.drop_superseded())
    assert isinstance(tree, exp.Delete) and tables(tree) == {staging}

    tree = parse_one(sql.keep_history())
    assert isinstance(tree, exp.Insert) and tables(tree) == {history, target, staging}
    assert [c.name for c in tree.this.expressions] == [*COLUMNS, "kept", "_load_id", "_replaced_by", "_replaced_at"]

    tree = parse_one(sql.update())
    assert isinstance(tree, exp.Update) and tables(tree) >= {target, staging}
    assert {e.this.name for e in tree.expressions} == {*COLUMNS, "_load_id"}

    tree = parse_one(sql.insert())
    assert isinstance(tree, exp.Insert) and tables(tree) == {target, staging}
    assert [c.name for c in tree.this.expressions] == [*COLUMNS, "_load_id"]
    assert tree.find(exp.Exists) is not None


def test_the_target_is_read_under_update_and_range_locks_and_merge_is_never_used():
    sql = MssqlMergeSql(plan("contacts"), {"email"})
    statements = [sql.superseded_keys(), sql.drop_superseded(), sql.keep_history(), sql.update(), sql.insert()]
    target = qualified("dbo", "contacts")
    assert f"{target} AS t WITH (UPDLOCK, SERIALIZABLE)" in sql.update()
    for statement in (sql.keep_history(), sql.insert()):
        assert f"{target} AS t WITH (UPDLOCK, HOLDLOCK)" in statement
    assert not any("MERGE" in s.upper().replace(qualified("dbo", staging_name("contacts", 7)).upper(), "")
                   for s in statements)


def test_text_values_compare_exactly_and_others_by_value():
    sql = MssqlMergeSql(plan("contacts"), {"title"})
    text_check = sql.value_differs("title", "t", "s")
    assert "COLLATE Latin1_General_BIN2" in text_check and "DATALENGTH(t.[title])" in text_check
    assert "COLLATE" not in sql.value_differs("email", "t", "s")
    for check in (text_check, sql.value_differs("email", "t", "s")):
        assert "t.[title] IS NULL" in check or "t.[email] IS NULL" in check
        parse_one(f"SELECT 1 FROM x AS t, y AS s WHERE {check}")


@pytest.mark.parametrize("name", NAMES)
def test_merge_ddl_parses(name):
    types = [mssql.NVARCHAR(4000), mssql.NVARCHAR(None), mssql.DECIMAL(38, 10), mssql.BIGINT()]
    tree = parse_one(S.create_staging("dbo", staging_name(name, 7), COLUMNS, types))
    assert isinstance(tree, exp.Create) and tree.kind == "TABLE"
    assert [c.name for c in tree.find_all(exp.ColumnDef)] == ["_seq", *COLUMNS, "_load_id"]
    assert "IDENTITY" in tree.sql("tsql").upper()

    tree = parse_one(S.create_table_of("bkp", f"{name}__history", COLUMNS, types))
    assert [c.name for c in tree.find_all(exp.ColumnDef)] == COLUMNS

    tree = parse_one(S.create_index("dbo", name, key_index_name(name), KEYS, unique=True))
    assert isinstance(tree, exp.Create) and tree.kind == "INDEX" and tree.args.get("unique")
    assert "WHERE" in tree.sql("tsql")  # NULL keys (a key column added later) do not collide
    assert "WHERE" not in S.create_index("dbo", name, "ix", KEYS, unique=False)
    for lookup in (S.index_id("dbo", name, key_index_name(name)), S.column_types("dbo", name)):
        tree = parse_one(lookup)
        assert isinstance(tree, exp.Select)
        literals = [node.this.replace("''", "'") for node in tree.find_all(exp.National)]
        assert name in literals and "dbo" in literals and "OBJECT_ID(" not in lookup  # by the catalog row


def test_the_merge_record_ddl_parses():
    tree = parse_one(str(CreateTable(merges_table("ref")).compile(dialect=mssql.dialect())).strip())
    assert isinstance(tree, exp.Create) and tables(tree) == {("ref", "ingest_merges")}


@pytest.mark.parametrize(("described", "compiled"), [
    (("nvarchar", 8000, 0, 0), "NVARCHAR(4000)"), (("nvarchar", -1, 0, 0), "NVARCHAR(max)"),
    (("decimal", 17, 38, 10), "DECIMAL(38, 10)"), (("datetime2", 8, 27, 7), "DATETIME2(7)"),
    (("bigint", 8, 19, 0), "BIGINT"), (("bit", 1, 1, 0), "BIT"), (("date", 3, 10, 0), "DATE"),
])
def test_column_types_read_from_sys_columns_map_back_to_their_definition(described, compiled):
    assert sql_type(*described).compile(dialect=mssql.dialect()) == compiled
