"""The recovery table (`monitor.load.recovery`), row by row, in-process on each real database:
the state a load is found in after a crash, and what recovery does with it."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from monitor.catalog import events, files, sets
from monitor.config import Settings
from monitor.demo.ch_parts import write_companies_house_parts
from monitor.load.jobs import ResumeJob, SetJob
from monitor.load.state.machine import FileFacts, Status, utcnow
from monitor.load.state.outcome import OutcomeKind
from monitor.operate.app import App, build_app

ROWS = "a,b\n1,x\n2,y\n3,z\n"


@pytest.fixture
def app(backend_url, tmp_path):
    rules = []
    for table, mode, pattern in (("people", "append", "*.csv"), ("companies", "fullload", "BasicCompanyData*")):
        folder = tmp_path / "in" / table
        folder.mkdir(parents=True)
        rules.append({"path": str(folder), "pattern": pattern, "table": table, "mode": mode, "reference": True})
    made = build_app(Settings.model_validate({"database_url": backend_url, "http_port": 0, "folders": rules}),
                     instance="test")
    yield made
    made.close()


def claimed(app: App, name: str, table: str = "people") -> int:
    """A file dropped in the people folder and claimed, as the pipeline's first stage leaves it."""
    dropped = app.settings.folders[0].path / name
    dropped.write_text(ROWS)
    claim = app.state.claim(FileFacts(str(dropped), name, name.encode().hex().ljust(64, "0"), len(ROWS)),
                            app.backend.schema_for(True), table, "append")
    assert claim.load_id is not None
    return claim.load_id


def staging(app: App, load_id: int, table: str = "people") -> str:
    name = app.backend.staging_name(table, load_id)
    with app.backend.transaction() as conn:
        app.backend.create_table(conn, "ref", name, ["a"])
    return name


def staging_tables(app: App) -> list[str]:
    with app.backend.reading() as conn:
        return sorted(name for name in app.backend.tables_in(conn, "ref") if "__stg_" in name)


def trail(app: App, load_id: int) -> list[str]:
    with app.backend.reading() as conn:
        query = select(events.c.status, events.c.detail).where(events.c.load_id == load_id).order_by(events.c.event_id)
        return [f"{row.status}: {row.detail}" if row.detail else row.status for row in conn.execute(query)]


def sweep(app: App, *, moves: bool = False, start: bool = False, queued=lambda job: False) -> list:
    return list(app.pipeline.recovery.sweep(moves=moves, start=start, queued=queued))


def test_at_start_the_staging_table_of_an_ended_load_is_dropped_and_noted(app, caplog):
    ended, flying = claimed(app, "ended.csv"), claimed(app, "flying.csv")
    app.state.end(ended, Status.CLAIMED, Status.FAILED, error="refused")
    staging(app, ended)  # as after a crash between the end and the drop
    kept = staging(app, flying)
    with caplog.at_level(logging.WARNING, "monitor.recovery"):
        sweep(app, start=True)
    assert staging_tables(app) == [kept]  # a load in flight keeps its own
    assert f"staging table ref.people__stg_{ended} left behind: dropped" in trail(app, ended)[-1]
    assert f"the staging table of load {ended}" in caplog.text
    sweep(app)  # not at start: nothing looked for
    assert staging_tables(app) == [kept]


def test_a_recorded_move_not_made_is_made_by_the_sweep(app, tmp_path):
    load_id = claimed(app, "moving.csv")
    target = tmp_path / "failed" / "moving.csv"
    target.parent.mkdir()
    with app.backend.transaction() as conn:  # ended, then a crash before the move
        app.state.end_in(conn, load_id, Status.CLAIMED, Status.FAILED, move_to=target, error="refused")
    assert app.state.get(load_id).pending_move_to == str(target)
    sweep(app)
    assert not target.exists()  # moves only when asked
    sweep(app, moves=True)
    record = app.state.get(load_id)
    assert target.exists() and (record.current_path, record.pending_move_to) == (str(target), None)


def test_loads_in_flight_are_queued_once_and_those_without_a_rule_said_once(app, caplog):
    mine, queued, held, orphan = (claimed(app, f"{name}.csv") for name in ("mine", "queued", "held", "orphan"))
    with app.backend.transaction() as conn:
        conn.execute(update(files).where(files.c.load_id == orphan).values(target_table="gone"))
    with caplog.at_level(logging.ERROR, "monitor.recovery"), app.pipeline.in_flight.holding(held):
        jobs = sweep(app, queued=lambda job: isinstance(job, ResumeJob) and job.record.load_id == queued)
        again = sweep(app, queued=lambda job: True)
    assert [(type(job), job.record.load_id) for job in jobs] == [(ResumeJob, mine)]
    assert again == []
    assert caplog.text.count(f"load {orphan} (orphan.csv): no folder rule loads into ref.gone") == 1


def test_a_load_whose_lease_another_instance_holds_is_left_until_it_runs_out(app):
    load_id = claimed(app, "theirs.csv")
    with app.backend.transaction() as conn:
        conn.execute(update(files).where(files.c.load_id == load_id)
                     .values(claimed_by="other", lease_expires=utcnow() + timedelta(hours=1)))
    assert sweep(app) == []
    with app.backend.transaction() as conn:
        conn.execute(update(files).where(files.c.load_id == load_id)
                     .values(lease_expires=utcnow() - timedelta(seconds=1)))
    [job] = sweep(app)
    outcome = app.pipeline.recovery.resume_job(job)
    assert outcome is not None and outcome.status is OutcomeKind.LOADED
    assert app.state.get(load_id).claimed_by == "test"


def test_loading_with_its_data_committed_ends_loaded_with_the_committed_counts(app):
    rule = app.settings.folders[0]
    (rule.path / "done.csv").write_text(ROWS)
    first = app.pipeline.process(rule.path / "done.csv", rule)
    assert first.status is OutcomeKind.LOADED
    with app.backend.transaction() as conn:  # as after a crash between the data's commit and the state's
        conn.execute(update(files).where(files.c.load_id == first.load_id)
                     .values(status="loading", rows_loaded=None, rows_read=None, finished_at=None))
    outcome = app.pipeline.resume(app.state.get(first.load_id), rule)
    assert (outcome.status, outcome.rows_loaded) == (OutcomeKind.LOADED, 3)
    assert trail(app, first.load_id)[-1] == "loaded"


def test_loading_not_committed_goes_back_to_claimed_and_loads(app):
    load_id = claimed(app, "again.csv")
    app.state.move(load_id, Status.CLAIMED, Status.LOADING)
    outcome = app.pipeline.resume(app.state.get(load_id), app.settings.folders[0])
    assert (outcome.status, outcome.rows_loaded) == (OutcomeKind.LOADED, 3)
    assert [line.split(":")[0] for line in trail(app, load_id)] == ["claimed", "loading", "claimed", "loading",
                                                                    "loaded"]


def test_claimed_with_its_file_nowhere_fails_and_its_staging_table_goes(app):
    load_id = claimed(app, "gone.csv")
    staging(app, load_id)
    (app.settings.folders[0].path / "gone.csv").unlink()
    outcome = app.pipeline.resume(app.state.get(load_id), app.settings.folders[0])
    assert outcome.status is OutcomeKind.FAILED and "not found after a restart" in outcome.error
    assert staging_tables(app) == []


def test_claimed_with_its_file_found_is_taken_in_and_loaded(app):
    load_id = claimed(app, "found.csv")
    outcome = app.pipeline.resume(app.state.get(load_id), app.settings.folders[0])
    assert (outcome.status, outcome.rows_loaded) == (OutcomeKind.LOADED, 3)
    assert Path(outcome.path).parent.name == "archive" or "archive" in Path(outcome.path).parts


def test_a_complete_set_left_waiting_is_queued_and_an_incomplete_one_said_overdue(app, tmp_path, caplog):
    rule = app.settings.folders[1]
    parts = write_companies_house_parts(tmp_path / "source", "2026-11-01", 7 * 5, seed=2)
    app.pipeline.cancel.set()  # the daemon stopping as the last part arrives: the set is left waiting
    for part in parts:
        (rule.path / part.name).write_bytes(part.read_bytes())
        app.pipeline.process(rule.path / part.name, rule)
    app.pipeline.cancel.clear()
    jobs = sweep(app)
    [set_job] = [job for job in jobs if isinstance(job, SetJob)]
    assert sweep(app, queued=lambda job: isinstance(job, SetJob)) == []
    assert app.pipeline.load_set(set_job.set_id, rule).status is OutcomeKind.LOADED
    # An incomplete set past its set_timeout is said once, and waits.
    later = write_companies_house_parts(tmp_path / "later", "2026-12-01", 7 * 5, seed=3)
    (rule.path / later[0].name).write_bytes(later[0].read_bytes())
    app.pipeline.process(rule.path / later[0].name, rule)
    with app.backend.transaction() as conn:
        conn.execute(update(sets).where(sets.c.status == "waiting").values(first_seen_at=utcnow() - timedelta(days=9)))
    with caplog.at_level(logging.WARNING, "monitor.sets"):
        assert not [job for job in sweep(app) if isinstance(job, SetJob)]
        sweep(app)
    assert caplog.text.count("is incomplete after") == 1
