"""Careful mode in-process, on each real database: a batch the database refuses is halved
under savepoints down to the rows it refuses, which are rejected with its reason; every
other row loads, in the same transaction."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import pytest
from requirements import has
from sqlalchemy.exc import DBAPIError

from monitor.backends import Backend
from monitor.backends.target import Target
from monitor.load.read.records import Batch, Reject
from monitor.load.write.isolation import careful_writer, load_file

# The database refuses a value its column cannot hold: a whole number column (PostgreSQL and
# SQL Server check the type; SQLite checks the CHECK constraint the test gives its table).


def make_table(backend) -> Target:
    schema = backend.default_schema
    with backend.transaction() as conn:
        if not has(backend, "typed_columns"):
            conn.exec_driver_sql('CREATE TABLE main.counted (n TEXT CHECK (n GLOB "[0-9]*"), _load_id BIGINT)')
        else:
            backend.create_table(conn, schema, "counted", ["n"], {"n": "integer"})
    return Target(schema, "counted", ["n"], 5)


class Counting:
    """The real backend, counting the rows of each try careful mode makes: its `bulk_insert`
    calls under savepoints, or (where an error ends the transaction) its probes."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.tries: list[int] = []
        self.inserts: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def bulk_insert(self, conn, target, batches):
        batches = list(batches)
        rows = sum(len(rows) for rows in batches)
        self.inserts.append(rows)
        if not self.backend.value_errors_end_transactions(conn):
            self.tries.append(rows)
        return self.backend.bulk_insert(conn, target, batches)

    @contextmanager
    def probing(self, conn, target):
        with self.backend.probing(conn, target) as probe:
            def counted(rows):
                self.tries.append(len(rows))
                probe(rows)

            yield counted


def batch_of(values: list[str], first_line: int = 2) -> Batch:
    lines = list(range(first_line, first_line + len(values)))
    return Batch(rows=[[v] for v in values], lines=lines, raws=values[:])


def stored(backend) -> list[str]:
    with backend.reading() as conn:
        rows = conn.exec_driver_sql(f"SELECT n FROM {backend.qualified(None, 'counted')}")
        return sorted(str(row[0]) for row in rows)


def test_one_refused_row_in_sixteen_is_found_by_halving(backend):
    target = make_table(backend)
    values = [str(i) for i in range(16)]
    values[11] = "eleven"
    counting, rejected = Counting(backend), []
    with backend.transaction() as conn:
        written = careful_writer(counting, rejected.append)(conn, target, [batch_of(values)])
    assert written == 15
    # depth first: 16 refused -> 8 in, 8 refused -> 4 refused -> 2 in, 2 refused -> 1 in, 1 rejected; 4 in
    assert counting.tries == [16, 8, 8, 4, 2, 2, 1, 1, 4]
    with backend.reading() as conn:
        probed = backend.value_errors_end_transactions(conn)
    assert counting.inserts == ([15] if probed else counting.tries)  # probed first: the 15 good rows go in at once
    assert [(r.line, r.raw) for r in rejected] == [(13, "eleven")]
    assert rejected[0].reason.startswith("refused by the database: ")
    assert stored(backend) == sorted(v for v in values if v != "eleven")


def test_every_row_refused_and_none_refused(backend):
    target = make_table(backend)
    rejected: list[Reject] = []
    with backend.transaction() as conn:
        write = careful_writer(backend, rejected.append)
        assert write(conn, target, [batch_of(["x", "y", "z"]), batch_of([], 5)]) == 0
        assert write(conn, target, [batch_of(["1", "2"], 10), batch_of(["3"], 12)]) == 3
    assert [r.line for r in rejected] == [2, 3, 4]
    assert stored(backend) == ["1", "2", "3"]


def test_a_refused_batch_loads_again_carefully_and_other_errors_do_not(backend):
    target = make_table(backend)
    tries: list[bool] = []

    def attempt(fmt, careful: bool) -> int:
        tries.append(careful)
        with backend.transaction() as conn:
            if careful:
                return careful_writer(backend, lambda reject: None)(conn, target, [batch_of(["1", "bad"])])
            return backend.bulk_insert(conn, target, [[["1"], ["bad"]]])

    assert load_file(attempt, None, backend.is_data_error) == 1
    assert tries == [False, True]
    assert stored(backend) == ["1"]

    def broken(fmt, careful: bool) -> int:
        raise RuntimeError("not about the rows")

    with pytest.raises(RuntimeError):
        load_file(broken, None, backend.is_data_error)


def test_data_errors_are_told_from_other_database_errors(backend):
    target = make_table(backend)
    with pytest.raises(Exception) as refused, backend.transaction() as conn:  # the driver's own error class
        backend.bulk_insert(conn, target, [[["bad"]]])
    assert backend.is_data_error(refused.value)
    with pytest.raises(DBAPIError) as missing, backend.transaction() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert not backend.is_data_error(missing.value)
