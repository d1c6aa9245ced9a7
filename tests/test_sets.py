"""Snapshot sets in-process, on each real database: parts wait until their set is complete,
then load as one snapshot (one swap; the previous table whole in `bkp`); the set's state
machine and its parts'; duplicates, parts at odds, failures, a stop, a crash; newest wins."""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from monitor.catalog import events, files, sets
from monitor.config import Settings
from monitor.demo.ch_parts import one_file_name, write_companies_house_parts
from monitor.demo.companies_house import write_companies_house
from monitor.load.read.snapshots import Superseded, check_newest
from monitor.load.sets.machine import SET_TRANSITIONS, SetStatus
from monitor.load.state.machine import Status, TransitionError
from monitor.load.state.outcome import OutcomeKind
from monitor.operate.app import build_app

PARTS = 7


@pytest.fixture
def app(backend_url, tmp_path):
    folder = tmp_path / "in" / "companies"
    folder.mkdir(parents=True)
    settings = Settings.model_validate({
        "database_url": backend_url, "http_port": 0, "batch_rows": 50,
        "folders": [{"path": str(folder), "pattern": "BasicCompanyData*", "table": "companies",
                     "mode": "fullload", "reference": True}]})
    made = build_app(settings, instance="test")
    yield made
    made.close()


def drop(app, source: Path):
    """Put a file into the watched folder and run it through the pipeline, as the daemon does."""
    rule = app.settings.folders[0]
    target = rule.path / source.name
    target.write_bytes(source.read_bytes())
    return app.pipeline.process(target, rule)


def table(app, schema: str = "ref") -> tuple[int, set[int]]:
    """(rows, the load ids they carry) of `<schema>.companies`."""
    with app.backend.reading() as conn:
        if not app.backend.table_exists(conn, schema, "companies"):
            return 0, set()
        rows = conn.exec_driver_sql(f"SELECT _load_id FROM {app.backend.qualified(schema, 'companies')}").all()
    return len(rows), {row[0] for row in rows}


def audit(app) -> dict[str, tuple[str, int | None]]:
    with app.backend.reading() as conn:
        return {r.file_name: (r.status, r.set_id) for r in conn.execute(select(files).order_by(files.c.load_id))}


def the_set(app, set_id: int):
    with app.backend.reading() as conn:
        return conn.execute(select(sets).where(sets.c.set_id == set_id)).one()


def trail(app, load_id: int) -> list[str]:
    with app.backend.reading() as conn:
        query = select(events.c.status).where(events.c.load_id == load_id).order_by(events.c.event_id)
        return [row.status for row in conn.execute(query)]


@pytest.fixture
def snapshots(tmp_path):
    """A previous snapshot (one file, 2026-10-01) and the next one in 7 parts (2026-11-01)."""
    source = tmp_path / "source"
    source.mkdir()
    previous = write_companies_house(source / one_file_name("2026-10-01"), 40, seed=1)
    parts = write_companies_house_parts(source, "2026-11-01", 7 * 30 + 3, seed=2)
    return previous, parts


def test_a_set_waits_for_every_part_then_loads_as_one_snapshot(app, snapshots):
    previous, parts = snapshots
    first = drop(app, previous)
    assert first.status is OutcomeKind.LOADED
    order = list(range(PARTS))
    random.Random(5).shuffle(order)
    for index in order[:-1]:
        outcome = drop(app, parts[index])
        assert outcome.status is OutcomeKind.WAITING, outcome
        assert f"part {index + 1} of 7 of set" in outcome.error
        assert table(app) == (40, {first.load_id})  # untouched while the set is incomplete
    last = drop(app, parts[order[-1]])
    assert last.status is OutcomeKind.LOADED
    records = audit(app)
    part_ids = {row.load_id for row in app.pipeline.sets.store.parts(records[parts[0].name][1])}
    assert {records[p.name][0] for p in parts} == {"loaded"}
    assert table(app) == (213, part_ids) and len(part_ids) == PARTS
    assert table(app, "bkp") == (40, {first.load_id})  # the previous snapshot, whole
    found = the_set(app, records[parts[0].name][1])
    assert (found.status, found.part_count, found.rows_loaded, str(found.snapshot_date)) == (
        "loaded", 7, 213, "2026-11-01")
    assert all(trail(app, load_id) == ["claimed", "waiting", "loading", "loaded"] for load_id in part_ids)
    with app.backend.reading() as conn:
        assert not [n for n in app.backend.tables_in(conn, "ref") if "__stg_" in n]
    archived = {p.name for p in (app.settings.folders[0].path.parent / "archive").rglob("*.zip")}
    assert archived == {previous.name} | {p.name for p in parts}


def test_a_part_again_is_a_duplicate_and_a_part_at_odds_is_refused(app, snapshots, tmp_path):
    _, parts = snapshots
    assert drop(app, parts[0]).status is OutcomeKind.WAITING
    again = drop(app, parts[0])  # the same part while its set waits
    assert again.status is OutcomeKind.DUPLICATE and "same content" in again.error
    other = tmp_path / "other" / parts[1].name
    other.parent.mkdir()
    write_companies_house(other, 5, seed=99)  # part 2 of 7, but other content than the part 2 coming
    assert drop(app, parts[1]).status is OutcomeKind.WAITING
    refused = drop(app, other)
    assert refused.status is OutcomeKind.FAILED and "with other content: not loaded" in refused.error
    eight = tmp_path / "other" / "BasicCompanyData-2026-11-01-part3_8.zip"
    write_companies_house(eight, 5, seed=98)
    odd = drop(app, eight)
    assert odd.status is OutcomeKind.FAILED and "has 7 parts" in odd.error
    twin = tmp_path / "other" / parts[4].name
    twin.write_bytes(parts[0].read_bytes())  # "part 5" with part 1's bytes
    same = drop(app, twin)
    assert same.status is OutcomeKind.FAILED and "has the same content as part 1" in same.error
    nine = tmp_path / "other" / "BasicCompanyData-2026-11-01-part9_7.zip"
    write_companies_house(nine, 5, seed=97)
    assert "its name says part 9 of 7" in drop(app, nine).error
    for part in parts[2:]:
        drop(app, part)
    assert table(app)[0] == 213
    resent = drop(app, parts[3])  # its set is loaded
    assert resent.status is OutcomeKind.DUPLICATE
    assert table(app)[0] == 213


def test_a_part_that_fails_fails_its_set_and_the_table_is_untouched(app, snapshots, tmp_path):
    previous, parts = snapshots
    first = drop(app, previous)
    broken = tmp_path / "broken" / parts[4].name
    broken.parent.mkdir()
    broken.write_bytes(b"%PDF-1.7 not a csv at all\n")
    for part in [*parts[:4], broken, *parts[5:]]:
        drop(app, part)
    records = audit(app)
    assert {records[p.name][0] for p in parts} == {"failed"}
    assert table(app) == (40, {first.load_id}) and table(app, "bkp") == (0, set())
    found = the_set(app, records[parts[0].name][1])
    assert found.status == "failed" and parts[4].name in found.error
    with app.backend.reading() as conn:
        errors = {r.file_name: r.error for r in conn.execute(select(files).where(files.c.set_id == found.set_id))}
    assert "PDF" in errors[parts[4].name]
    assert all(f"set {found.set_id} ({found.set_name}) failed" in errors[p.name] for p in parts if p != parts[4])
    failed = app.settings.folders[0].path.parent / "failed" / "companies"
    assert {p.name for p in failed.glob("*.zip")} == {p.name for p in parts}
    assert len(list(failed.glob("*.error.txt"))) == PARTS


def test_parts_whose_headers_differ_fail_their_set(app, snapshots, tmp_path):
    _, parts = snapshots
    odd = tmp_path / "odd" / parts[6].name.replace(".zip", ".csv")
    odd.parent.mkdir()
    odd.write_text("CompanyName, CompanyNumber,Extra\nA,1,x\n")
    for part in [*parts[:6], odd]:
        drop(app, part)
    records = audit(app)
    assert records[odd.name][0] == "failed" and table(app) == (0, set())
    with app.backend.reading() as conn:
        error = conn.execute(select(files.c.error).where(files.c.file_name == odd.name)).scalar_one()
    assert "its header is not that of" in error and "extra columns: extra" in error


def test_an_older_snapshot_is_superseded_and_a_replay_puts_it_back(app, snapshots, tmp_path):
    previous, parts = snapshots
    for part in parts:
        drop(app, part)
    loaded = table(app)
    older = drop(app, previous)
    assert older.status is OutcomeKind.SUPERSEDED
    assert "2026-10-01 is older than 2026-11-01" in older.error and "set 1" in older.error
    assert table(app) == loaded
    archived = next((app.settings.folders[0].path.parent / "archive").rglob(previous.name))
    older_parts = write_companies_house_parts(tmp_path / "sept", "2026-09-01", 14, seed=3)
    outcomes = [drop(app, part) for part in older_parts]
    assert {o.status for o in outcomes} == {OutcomeKind.SUPERSEDED}
    assert table(app) == loaded
    from monitor.operate.reruns import replay

    again = replay(app, older.load_id)
    assert again.status is OutcomeKind.LOADED and table(app) == (40, {again.load_id})
    assert archived.exists()
    back = replay(app, outcomes[0].load_id)  # a part: its whole set
    assert back.status is OutcomeKind.LOADED and table(app)[0] == 14
    assert len(table(app)[1]) == PARTS


def test_newest_wins_inside_the_swap_transaction(backend, tmp_path):
    """Under the target's lock, just before the swap: a snapshot older than the one a concurrent
    load put in place is refused there too."""
    with backend.transaction() as conn:
        backend.create_table(conn, "ref", "snap", ["v"])
        conn.execute(files.insert().values(
            file_name="snap-2026-11-01.csv", source_path="x", sha256="a" * 64, size_bytes=1, target_schema="ref",
            target_table="snap", mode="fullload", status="loaded", started_at=datetime(2026, 11, 2),
            finished_at=datetime(2026, 11, 2), snapshot_date=date(2026, 11, 1)))
    with backend.transaction() as conn:
        check_newest(conn, backend, "ref", "snap", date(2026, 11, 1))  # the same date: fine
        check_newest(conn, backend, "ref", "snap", None)  # no date: arrival order
        with pytest.raises(Superseded, match="2026-09-01 is older than 2026-11-01"):
            check_newest(conn, backend, "ref", "snap", date(2026, 9, 1))
        backend.drop_table(conn, "ref", "snap")
        check_newest(conn, backend, "ref", "snap", date(2026, 9, 1))  # no table: nothing to keep


def test_the_set_machine_refuses_every_move_it_does_not_allow(app, snapshots):
    _, parts = snapshots
    drop(app, parts[0])
    set_id = audit(app)[parts[0].name][1]
    store = app.pipeline.sets.store
    refused = [(s, t) for s in SetStatus for t in SetStatus if t not in SET_TRANSITIONS[s]]
    assert len(refused) == 25 - 7
    for source, target in refused:
        with app.backend.transaction() as conn:
            conn.execute(update(sets).where(sets.c.set_id == set_id).values(status=source.value))
        with pytest.raises(TransitionError, match="is not a transition"), app.backend.transaction() as conn:
            store._move_set(conn, set_id, source, target)
        assert the_set(app, set_id).status == source
    with app.backend.transaction() as conn:
        conn.execute(update(sets).where(sets.c.set_id == set_id).values(status="waiting"))
    with pytest.raises(TransitionError, match="was not loading"), app.backend.transaction() as conn:
        store._move_set(conn, set_id, SetStatus.LOADING, SetStatus.LOADED)
    assert store.start(set_id) is None  # incomplete: not started
    assert the_set(app, set_id).status == "waiting"


def test_a_set_stopped_midway_waits_whole_and_loads_whole_later(app, snapshots):
    _, parts = snapshots
    app.pipeline.cancel.set()  # the daemon is stopping as the last part arrives
    outcomes = [drop(app, part) for part in parts]
    assert outcomes[-1].status is OutcomeKind.WAITING
    set_id = audit(app)[parts[0].name][1]
    assert the_set(app, set_id).status == "waiting" and table(app) == (0, set())
    assert [row.set_id for row in app.pipeline.sets.store.ready()] == [set_id]
    app.pipeline.cancel.clear()
    [(ready, rule)] = app.pipeline.sets.ready()
    assert app.pipeline.load_set(ready, rule).status is OutcomeKind.LOADED
    assert table(app)[0] == 213
    part = app.pipeline.sets.store.parts(set_id)[0]
    assert trail(app, part.load_id) == ["claimed", "waiting", "loading", "waiting", "loading", "loaded"]


def test_a_set_found_loading_after_a_crash_resumes_whole(app, snapshots):
    _, parts = snapshots
    for part in parts[:-1]:
        drop(app, part)
    set_id = audit(app)[parts[0].name][1]
    drop(app, parts[-1])
    rows = table(app)
    store = app.pipeline.sets.store
    # As after a crash between the swap's commit and the parts' (SQLite commits `ref` first):
    with app.backend.transaction() as conn:
        conn.execute(update(files).where(files.c.set_id == set_id).values(status="loading", rows_loaded=None))
        conn.execute(update(sets).where(sets.c.set_id == set_id).values(status="loading"))
    part = store.parts(set_id)[2]
    assert app.pipeline.resume(part, app.settings.folders[0]).status is OutcomeKind.LOADED
    assert {p.rows_loaded for p in store.parts(set_id)} == {30, 31} and the_set(app, set_id).status == "loaded"
    assert table(app) == rows
    # As after a crash before the swap committed: the set is loaded again, whole.
    with app.backend.transaction() as conn:
        conn.execute(update(files).where(files.c.set_id == set_id).values(status="loading"))
        conn.execute(update(sets).where(sets.c.set_id == set_id).values(status="loading"))
        app.backend.drop_table(conn, "ref", "companies")
    resumed = app.pipeline.resume(store.parts(set_id)[0], app.settings.folders[0])
    assert resumed.status is OutcomeKind.LOADED
    assert table(app) == rows and {p.status for p in store.parts(set_id)} == {Status.LOADED}


def test_an_incomplete_set_is_reported_once_and_never_loaded(app, snapshots):
    _, parts = snapshots
    for part in parts[:3]:
        drop(app, part)
    set_id = audit(app)[parts[0].name][1]
    flow = app.pipeline.sets
    assert flow.report_overdue() == []  # not past its set_timeout (an hour) yet
    with app.backend.transaction() as conn:
        conn.execute(update(sets).where(sets.c.set_id == set_id)
                     .values(first_seen_at=the_set(app, set_id).first_seen_at.replace(year=2000)))
    assert [row.set_id for row in flow.report_overdue()] == [set_id]
    assert flow.report_overdue() == []  # reported once
    assert the_set(app, set_id).overdue_at is not None and the_set(app, set_id).status == "waiting"
    assert flow.ready() == [] and table(app) == (0, set())


def test_a_retry_of_a_part_of_a_failed_set_retries_the_whole_set(app, snapshots, backend_url, tmp_path):
    _, parts = snapshots
    ragged = tmp_path / "ragged" / parts[3].name.replace(".zip", ".csv")
    ragged.parent.mkdir()
    lines = write_companies_house(tmp_path / "ragged" / "x.csv", 30, seed=8, zipped=False).read_text().splitlines()
    ragged.write_text("\n".join([*lines[:5], '"a","short row"', *lines[5:]]) + "\n")
    strict = app.settings.model_copy(deep=True)
    strict.folders[0].on_error = "abort"
    with_abort = build_app(strict, instance="strict")
    try:
        for part in [*parts[:3], ragged, *parts[4:]]:
            drop(with_abort, part)
        failed = audit(app)
        assert {failed[p.name][0] for p in [*parts[:3], ragged, *parts[4:]]} == {"failed"}
        assert table(app) == (0, set())
    finally:
        with_abort.close()
    from monitor.operate.reruns import RerunRefused, retry

    with app.backend.reading() as conn:
        ragged_id = conn.execute(select(files.c.load_id).where(files.c.file_name == ragged.name)).scalar_one()
    outcome = retry(app, ragged_id)  # on_error continue now: the bad row is set aside, the set loads
    assert outcome.status is OutcomeKind.LOADED and outcome.rows_rejected == 1
    assert table(app)[0] == 6 * 30 + 3 + 30
    records = audit(app)
    assert {records[p.name][0] for p in [*parts[:3], ragged, *parts[4:]]} == {"loaded"}
    with pytest.raises(RerunRefused, match=r"its file was retried as load \d+ \(loaded\)"):
        retry(app, ragged_id)
