"""A merge in-process, on each real database: the strategy stages rows through the backend's
bulk path and applies them set-based; the last row of a key wins, matching keys are updated
(columns the file lacks keep their values), new keys inserted, untouched rows left alone, the
replaced versions kept in history, and the merge recorded where recovery looks for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from requirements import has

from monitor.backends.merging import MergeCounts
from monitor.backends.target import Target
from monitor.catalog import HISTORY_SUFFIX, LOAD_ID_COLUMN, REF_SCHEMA, REPLACED_AT_COLUMN, REPLACED_BY_COLUMN
from monitor.config import FolderRule
from monitor.load.read.column_types import RowPlan
from monitor.load.read.policies import PolicyError, check_header
from monitor.load.read.records import RowError
from monitor.load.write.strategies import LoadJob, Merge, MergeError

FIRST = [["a@x.com", "Ann", "CEO"], ["b@x.com", "Bob", "CTO"], ["c@x.com", "Cy", "CFO"]]


def job(backend, load_id: int, columns: list[str], *, reference: bool = False, keys: tuple[str, ...] = ("email",),
        types: dict[str, str] | None = None) -> LoadJob:
    return LoadJob(load_id, backend.schema_for(reference), "contacts", columns, [""], types or {}, list(keys))


def merge(backend, load: LoadJob, rows: list[list[str]], *, fail_after: bool = False) -> Merge:
    """Prepare and merge `rows` in one transaction, as a load does (the writer is the bulk path)."""
    strategy = Merge()
    strategy.prepare(backend, load)
    with backend.transaction() as conn:
        applied = strategy.load(conn, backend, load, lambda conn, target: backend.bulk_insert(conn, target, [rows]))
        assert strategy.counts is not None and applied == strategy.counts.applied
        if fail_after:
            raise RuntimeError("the load's transaction fails after the merge")
    return strategy


def table(backend, columns: tuple[str, ...] = ("name", "title", LOAD_ID_COLUMN), reference: bool = False
          ) -> dict[str, tuple]:
    """The target's rows by e-mail: (`columns`...)."""
    schema = backend.schema_for(reference)
    with backend.reading() as conn:
        rows = backend.run_sql(conn, f"SELECT {', '.join(backend.quote(n) for n in ('email', *columns))} "
                                     f"FROM {backend.qualified(schema, 'contacts')}", fetch=True)
    return {row[0]: tuple(row[1:]) for row in rows}


def history(backend, reference: bool = False) -> list[tuple]:
    """(email, name, title, _load_id, _replaced_by) of each replaced version, and whether it has a time."""
    place = backend.history_of(backend.schema_for(reference), "contacts")
    columns = ["email", "name", "title", LOAD_ID_COLUMN, REPLACED_BY_COLUMN, REPLACED_AT_COLUMN]
    with backend.reading() as conn:
        rows = backend.run_sql(conn, f"SELECT {', '.join(backend.quote(c) for c in columns)} "
                                     f"FROM {backend.qualified(place.schema, place.table)}", fetch=True)
    return sorted((*row[:5], row[5] is not None) for row in rows)


def test_a_merge_inserts_then_updates_supersedes_and_keeps_history(backend):
    merge(backend, job(backend, 1, ["email", "name", "title"]), FIRST)
    assert table(backend) == {"a@x.com": ("Ann", "CEO", 1), "b@x.com": ("Bob", "CTO", 1), "c@x.com": ("Cy", "CFO", 1)}
    assert history(backend) == []

    second = [["b@x.com", "Bob", "CEO"],   # changed
              ["d@x.com", "Di", "COO"],    # new, then repeated: the last row wins
              ["a@x.com", "Ann", "CEO"],   # unchanged
              ["d@x.com", "Dee", "VP"]]
    strategy = merge(backend, job(backend, 2, ["email", "name", "title"]), second)
    assert strategy.counts == MergeCounts(inserted=1, updated=1, unchanged=1, superseded=1,
                                          superseded_keys=("d@x.com",))
    assert strategy.audit_values() == {"rows_inserted": 1, "rows_updated": 1, "rows_unchanged": 1,
                                       "rows_superseded": 1}
    assert "d@x.com" in strategy.warnings()[0]
    assert table(backend) == {"a@x.com": ("Ann", "CEO", 1), "b@x.com": ("Bob", "CEO", 2),
                              "c@x.com": ("Cy", "CFO", 1), "d@x.com": ("Dee", "VP", 2)}
    assert history(backend) == [("b@x.com", "Bob", "CTO", 1, 2, True)]


def test_columns_the_file_lacks_keep_their_values_and_new_ones_arrive_in_history_too(backend):
    merge(backend, job(backend, 1, ["email", "name", "title"]), FIRST)
    merge(backend, job(backend, 2, ["email", "phone", "title"]),
          [["a@x.com", "+44 1", "CEO"], ["e@x.com", "+44 2", ""]])
    assert table(backend, ("name", "title", "phone", LOAD_ID_COLUMN)) == {
        "a@x.com": ("Ann", "CEO", "+44 1", 2), "b@x.com": ("Bob", "CTO", None, 1),
        "c@x.com": ("Cy", "CFO", None, 1), "e@x.com": (None, None, "+44 2", 2)}
    place = backend.history_of(backend.schema_for(False), "contacts")
    with backend.reading() as conn:
        assert "phone" in backend.columns_of(conn, place.schema, place.table)
    assert history(backend) == [("a@x.com", "Ann", "CEO", 1, 2, True)]


def test_a_merge_that_rolls_back_leaves_table_history_and_record_as_they_were(backend):
    load = job(backend, 1, ["email", "name", "title"])
    merge(backend, load, FIRST)
    before = table(backend)
    with pytest.raises(RuntimeError):
        merge(backend, job(backend, 2, ["email", "name", "title"]), [["a@x.com", "Ann", "Chair"]], fail_after=True)
    assert table(backend) == before
    assert history(backend) == []
    strategy = Merge()
    with backend.reading() as conn:
        assert not strategy.is_committed(conn, backend, job(backend, 2, []))
        assert strategy.is_committed(conn, backend, load)
        schema = backend.schema_for(False)
        leftovers = [name for name in backend.tables_in(conn, schema) if "__merge_" in name]
    assert leftovers == []


@pytest.mark.parametrize("reference", [False, True])
def test_recovery_reads_what_a_committed_merge_recorded(backend, reference):
    merge(backend, job(backend, 1, ["email", "name", "title"], reference=reference), FIRST)
    merge(backend, job(backend, 2, ["email", "name", "title"], reference=reference),
          [["a@x.com", "Ann", "Chair"], ["z@x.com", "Zed", ""], ["z@x.com", "Zoe", ""]])
    strategy = Merge()  # a fresh one, as after a restart
    with backend.reading() as conn:
        assert strategy.is_committed(conn, backend, job(backend, 2, [], reference=reference))
        assert not strategy.is_committed(conn, backend, job(backend, 3, [], reference=reference))
        values = strategy.committed_values(conn, backend, job(backend, 2, [], reference=reference))
    assert values == {"rows_read": 3, "rows_loaded": 2, "rows_inserted": 1, "rows_updated": 1, "rows_unchanged": 0,
                      "rows_superseded": 1}
    assert history(backend, reference) == [("a@x.com", "Ann", "CEO", 1, 2, True)]


def test_the_history_table_sits_where_it_commits_with_the_merge(backend):
    place = backend.history_of(REF_SCHEMA, "contacts")
    assert place.table == "contacts" + HISTORY_SUFFIX
    if not backend.commits_with_state(REF_SCHEMA):  # files that commit one by one: the history beside its target
        assert place.schema == REF_SCHEMA
    else:
        assert place.schema == "bkp"


def test_keys_compare_as_the_database_compares_them(backend):
    merge(backend, job(backend, 1, ["email", "name"]), [["Ann@X.com", "Ann"]])
    merge(backend, job(backend, 2, ["email", "name"]), [["ann@x.com", "Ann B"]])
    rows = table(backend, ("name", LOAD_ID_COLUMN))
    if has(backend, "text_folds_case"):  # the default collation ignores case: one key, its spelling updated
        assert rows == {"ann@x.com": ("Ann B", 2)}
    else:
        assert rows == {"Ann@X.com": ("Ann", 1), "ann@x.com": ("Ann B", 2)}


def test_a_value_that_differs_only_in_case_or_trailing_space_is_an_update(backend):
    merge(backend, job(backend, 1, ["email", "name"]), [["a@x.com", "ann"], ["b@x.com", "bob"]])
    strategy = merge(backend, job(backend, 2, ["email", "name"]), [["a@x.com", "Ann"], ["b@x.com", "bob "]])
    assert strategy.counts == MergeCounts(inserted=0, updated=2, unchanged=0)


def test_a_typed_column_merges_by_its_type(backend):
    load = job(backend, 1, ["email", "employees"], types={"employees": "integer"})
    merge(backend, load, [["a@x.com", "1200"], ["b@x.com", None]])
    strategy = merge(backend, job(backend, 2, ["email", "employees"]), [["a@x.com", "1200"], ["b@x.com", "7"]])
    assert strategy.counts == MergeCounts(inserted=0, updated=1, unchanged=1)
    assert {email: int(row[0]) for email, row in table(backend, ("employees",)).items()} == {"a@x.com": 1200,
                                                                                           "b@x.com": 7}


def test_a_composite_key_matches_on_every_column(backend):
    load = job(backend, 1, ["email", "country", "name"], keys=("email", "country"))
    merge(backend, load, [["a@x.com", "GB", "Ann"], ["a@x.com", "FR", "Anne"]])
    strategy = merge(backend, job(backend, 2, ["email", "country", "name"], keys=("email", "country")),
                     [["a@x.com", "FR", "Annie"], ["a@x.com", "DE", "Anna"]])
    assert strategy.counts == MergeCounts(inserted=1, updated=1, unchanged=0)


def test_a_table_holding_a_key_twice_cannot_be_merged_into_and_says_why(backend):
    schema = backend.schema_for(False)
    with backend.transaction() as conn:
        backend.create_table(conn, schema, "contacts", ["email", "name"])
    with backend.transaction() as conn:
        backend.bulk_insert(conn, Target(schema, "contacts", ["email", "name"], 1),
                            [[["a@x.com", "A"], ["a@x.com", "B"]]])
    with pytest.raises(MergeError, match=r"cannot merge into .*contacts on email: the key cannot be indexed as unique"):
        Merge().prepare(backend, job(backend, 2, ["email", "name"]))
    with backend.reading() as conn:
        place = backend.history_of(schema, "contacts")
        assert not backend.table_exists(conn, place.schema, place.table)


def test_key_normalisation_trims_and_lowers_the_key_only():
    plan = RowPlan(["email", "name"], {}, ["email"], [""], normalise=["trim", "lower"])
    assert plan([" Ann@X.COM ", " Ann "]) == ["ann@x.com", " Ann "]
    with pytest.raises(RowError, match="empty key column email"):
        plan(["   ", "Ann"])


@pytest.mark.parametrize(("new_columns", "outcome"), [("add", ["email", "phone"]), ("ignore", ["email"]),
                                                       ("fail", "new columns not in main.contacts: phone")])
def test_a_merge_follows_new_columns_for_columns_its_table_lacks(new_columns, outcome):
    rule = FolderRule(path=Path("in"), table="contacts", mode="merge", key_columns=["Email"], new_columns=new_columns)
    header = ["Email", "Phone"]
    if isinstance(outcome, str):
        with pytest.raises(PolicyError, match=outcome):
            check_header("x.csv", header, ["email", "phone"], rule, ["email", "_load_id"], "main.contacts")
        return
    plan = check_header("x.csv", header, ["email", "phone"], rule, ["email", "_load_id"], "main.contacts")
    assert (plan.columns, plan.keys) == (outcome, ["email"])


def test_a_table_typed_before_takes_a_merge_whose_file_declares_nothing(backend):
    """The staging table takes the target's types; its key check reads any type."""
    merge(backend, job(backend, 1, ["email", "employees"], keys=("employees",), types={"employees": "integer"}),
          [["a@x.com", "12"]])
    strategy = merge(backend, job(backend, 2, ["email", "employees"], keys=("employees",)),
                     [["b@x.com", "12"], ["c@x.com", "13"]])
    assert strategy.counts == MergeCounts(inserted=1, updated=1, unchanged=0)
