"""Readers and a fullload's swap, through the real daemon: a reader holding `ref.<t>` in an
open transaction never stops other sessions from reading it, nor (when the table keeps its
columns) the swap; a swap that must change the table waits for that reader without queueing
anyone behind it, says so on the status page, in `status` and in /metrics, and completes
once the reader ends; past `swap_wait_seconds` the load fails saying why, the reader's
transaction untouched."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import drop, engine_for, wait_for, write_csv
from test_fullload_keeps_table import FIRMS, HEADER, leftovers, loaded, snapshot
from test_web_status import api, free_port, get, metrics

SAMPLERS = 3


class Samplers:
    """Other sessions reading `ref.firms` over and over, each on its own connection; on
    PostgreSQL a read that waits a second for a lock is cancelled and counted as an error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[int] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(SAMPLERS)]

    def _run(self) -> None:
        engine = engine_for(self.url)
        with engine.connect() as conn:
            if self.url.startswith("sqlite"):
                db = Path(str(engine.url.database))
                conn.exec_driver_sql(f"ATTACH DATABASE '{db.with_name(db.stem + '.ref.db')}' AS ref")
            elif self.url.startswith("postgresql"):
                conn.exec_driver_sql("SET lock_timeout = '1s'")
            else:
                conn.exec_driver_sql("SET LOCK_TIMEOUT 1000")
            conn.commit()
            while not self.stop.wait(0.02):
                try:
                    self.answers.append(int(conn.exec_driver_sql("SELECT COUNT(*) FROM ref.firms").scalar_one()))
                except Exception as exc:  # asserted on: a reader must always be answered
                    self.errors.append(str(exc).splitlines()[0])
                conn.rollback()
        engine.dispose()

    def __enter__(self) -> Samplers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


class Reader:
    """A session that read `ref.firms` in a transaction it keeps open."""

    def __init__(self, url: str) -> None:
        self.engine = engine_for(url)
        self.conn = self.engine.connect()
        if url.startswith("sqlite"):
            db = Path(str(self.engine.url.database))
            self.conn.exec_driver_sql(f"ATTACH DATABASE '{db.with_name(db.stem + '.ref.db')}' AS ref")
            self.conn.commit()
            self.conn.exec_driver_sql("BEGIN")
        elif url.startswith("postgresql"):
            self.conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self.hint = " WITH (HOLDLOCK)" if url.startswith("mssql") else ""  # SQL Server: its shared lock kept

    def count(self) -> int:
        return int(self.conn.exec_driver_sql(f"SELECT COUNT(*) FROM ref.firms{self.hint}").scalar_one())

    def end(self) -> None:
        self.conn.commit()
        self.conn.close()
        self.engine.dispose()


def reader_of_the_first(ws, first: Path, backend_url: str) -> Reader:
    """`first` (30 rows) loaded by the running daemon, and a reader's transaction open on it."""
    drop(first, ws.folder("firms"))
    wait_for(loaded(ws, [first.name]))
    reader = Reader(backend_url)
    assert reader.count() == 30
    return reader


def wider(tmp_path: Path, day: int, rows: int) -> Path:
    """A snapshot with one more column (`postcode`): the swap changes the table's columns."""
    return write_csv(tmp_path / "source" / f"firms-2026-01-{day:02}.csv", [*HEADER, "postcode"],
                     [[str(n), f"firm {n} of day {day}", "Leeds", "LS1"] for n in range(1, rows + 1)])


@pytest.mark.parametrize("backend_url", ["sqlite", "postgresql"], indirect=True)
def test_a_reader_in_an_open_transaction_stops_neither_the_swap_nor_other_readers(make_workspace, tmp_path,
                                                                                   backend_url):
    ws = make_workspace(FIRMS)
    first, second = snapshot(tmp_path, 1, rows=30), snapshot(tmp_path, 2, rows=50)
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        reader = reader_of_the_first(ws, first, backend_url)
        with Samplers(backend_url) as samplers:
            drop(second, ws.folder("firms"))
            wait_for(loaded(ws, [second.name]), timeout=120)  # while the reader's transaction is open
            assert reader.count() == 30, "the reader's transaction still sees the snapshot it began with"
            wait_for(lambda: 50 in samplers.answers[-SAMPLERS:])
        reader.end()
    assert samplers.errors == []
    assert set(samplers.answers) == {30, 50}, "other sessions saw the old rows, then the new, never a mix"
    assert ws.query("SELECT COUNT(*) FROM bkp.firms") == [(30,)]
    assert leftovers(ws, backend_url) == []


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_swap_that_changes_the_table_waits_for_its_reader_and_nobody_queues(make_workspace, tmp_path,
                                                                               backend_url):
    port = free_port()
    ws = make_workspace(FIRMS, http_port=port)
    base = f"http://127.0.0.1:{port}/"
    first, second = snapshot(tmp_path, 1, rows=30), wider(tmp_path, 2, rows=50)
    with ws.daemon() as daemon:
        wait_for(lambda: get(base + "health")[0] == 200, timeout=120)
        reader = reader_of_the_first(ws, first, backend_url)
        with Samplers(backend_url) as samplers:
            drop(second, ws.folder("firms"))
            waiting = wait_for(lambda: [load for load in api(base)["in_flight"]
                                        if load["phase"].startswith("waiting for readers of ref.firms since")],
                               timeout=120)
            assert waiting[0]["file"] == second.name
            wait_for(lambda: metrics(base)[("ingest_swap_waiting_seconds", (("target", "ref.firms"),))] > 0)
            row, = [r for r in ws.status() if r["file_name"] == second.name]
            assert row["status"] == "loading" and row["error"].startswith("waiting for readers of ref.firms")
            answered = len(samplers.answers)
            wait_for(lambda: len(samplers.answers) > answered + 10)  # still answered while the swap waits
            assert reader.count() == 30
            reader.end()
            wait_for(loaded(ws, [second.name]), timeout=120)
            wait_for(lambda: 50 in samplers.answers[-SAMPLERS:])
        assert metrics(base)[("ingest_swap_waiting_seconds", (("target", "ref.firms"),))] == 0
    assert samplers.errors == [], "a reader was queued behind the swap"
    assert "the swap is waiting for readers of ref.firms" in daemon.output()
    assert ws.query("SELECT COUNT(*), COUNT(postcode) FROM ref.firms") == [(50, 50)]
    assert ws.query("SELECT COUNT(*) FROM bkp.firms") == [(30,)]
    assert leftovers(ws, backend_url) == []


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_swap_that_waits_past_its_limit_fails_the_load_and_the_reader_goes_on(make_workspace, tmp_path,
                                                                                backend_url):
    ws = make_workspace({**FIRMS, "swap_wait_seconds": 2})
    first, second = snapshot(tmp_path, 1, rows=30), wider(tmp_path, 2, rows=50)
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        reader = reader_of_the_first(ws, first, backend_url)
        drop(second, ws.folder("firms"))
        failed = wait_for(lambda: ws.query("SELECT error FROM ingest_files WHERE file_name = :n AND status = 'failed'",
                                           n=second.name), timeout=120)
        assert reader.count() == 30, "the reader's transaction was never broken"
        reader.end()
    error = failed[0][0]
    assert "for readers of ref.firms" in error and "swap_wait_seconds" in error
    assert ws.query("SELECT COUNT(*) FROM ref.firms") == [(30,)]
    assert "postcode" not in [name for (name,) in ws.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'ref' AND table_name = 'firms'")]
    assert leftovers(ws, backend_url) == [], "the failed load's staging table was dropped"


@pytest.mark.parametrize("backend_url", ["mssql"], indirect=True)
def test_sql_server_a_reader_in_an_open_transaction_and_others_reading_during_the_swap(make_workspace, tmp_path,
                                                                                      backend_url):
    """SQL Server: the reader's transaction (`WITH (HOLDLOCK)`) may hold the swap until it ends
    (it keeps its shared lock there; Babelfish ignores the hint and holds nothing);
    other sessions are answered throughout, and the swap completes once the reader ends."""
    ws = make_workspace(FIRMS)
    first, second = snapshot(tmp_path, 1, rows=30), snapshot(tmp_path, 2, rows=50)
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        reader = reader_of_the_first(ws, first, backend_url)
        with Samplers(backend_url) as samplers:
            drop(second, ws.folder("firms"))
            answered = len(samplers.answers)
            wait_for(lambda: len(samplers.answers) > answered + 10)
            reader.end()
            wait_for(loaded(ws, [second.name]), timeout=120)
            wait_for(lambda: 50 in samplers.answers[-SAMPLERS:])
    assert samplers.errors == []
    assert set(samplers.answers) == {30, 50}
    assert ws.query("SELECT COUNT(*) FROM bkp.firms") == [(30,)]
    assert leftovers(ws, backend_url) == []
