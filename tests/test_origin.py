"""A batch of records with an origin (a stream's, `monitor.load.origin`) goes through the same
state and audit path as a file, in-process on each real database: claimed, loaded by its rule's
strategy, ended through `StateStore.end`; the same batch again is a duplicate; a refused batch
fails whole; one found in flight after a crash ends `failed` (its stream reads it again)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor.catalog import files
from monitor.config import Settings
from monitor.load.origin import Origin, OriginKind, RecordBatch
from monitor.load.state.machine import FileFacts, Status
from monitor.load.state.outcome import OutcomeKind
from monitor.operate.app import build_app


@pytest.fixture
def app(backend_url, tmp_path):
    folder = tmp_path / "in" / "companies"
    folder.mkdir(parents=True)
    settings = Settings.model_validate({"database_url": backend_url, "http_port": 0, "folders": [
        {"path": str(folder), "pattern": "*.csv", "table": "companies", "mode": "append", "reference": True}]})
    made = build_app(settings, instance="test")
    yield made
    made.close()


def batch(name: str = "companies@100", *more: list[str | None]) -> RecordBatch:
    return RecordBatch(name, ["CompanyNumber", "CompanyName"],
                       [["00000001", "ONE LTD"], ["00000002", None], *more])


def rows(app) -> list[tuple]:
    with app.backend.reading() as conn:
        if not app.backend.table_exists(conn, "ref", "companies"):
            return []
        assert app.backend.columns_of(conn, "ref", "companies") == ["company_number", "company_name", "_load_id"]
        found = conn.exec_driver_sql(f"SELECT * FROM {app.backend.qualified('ref', 'companies')}").all()
    return sorted(tuple(row) for row in found)


def test_a_batch_loads_and_is_audited_as_a_file_is(app):
    rule = app.settings.folders[0]
    outcome = app.pipeline.load_records(batch(), rule)
    assert (outcome.status, outcome.rows_read, outcome.rows_loaded) == (OutcomeKind.LOADED, 2, 2)
    assert rows(app) == [("00000001", "ONE LTD", outcome.load_id), ("00000002", None, outcome.load_id)]
    record = app.state.get(outcome.load_id)
    assert (record.source_path, record.current_path, record.pending_move_to) == ("stream:companies@100",) * 2 + (None,)
    assert Origin.of(record) == Origin(OriginKind.STREAM, "companies@100", outcome.load_id)
    again = app.pipeline.load_records(batch("companies@100 again"), rule)
    assert (again.status, app.state.get(again.load_id).duplicate_of) == (OutcomeKind.DUPLICATE, outcome.load_id)
    assert len(rows(app)) == 2


def test_a_refused_batch_fails_whole_through_the_one_end(app):
    outcome = app.pipeline.load_records(batch("companies@200", ["00000003", "THREE LTD", "a field too many"]),
                                        app.settings.folders[0])
    assert outcome.status is OutcomeKind.FAILED and "companies@200" in (outcome.error or "")
    assert rows(app) == []
    with app.backend.reading() as conn:
        assert conn.execute(select(files.c.finished_at).where(files.c.load_id == outcome.load_id)).scalar()


@pytest.mark.parametrize("found", [Status.CLAIMED, Status.LOADING])
def test_a_batch_found_in_flight_after_a_crash_ends_failed(app, found):
    cut = batch("companies@300")
    claim = app.state.claim(FileFacts(cut.path, cut.name, cut.sha256(), cut.size(), kind=OriginKind.STREAM),
                            "ref", "companies", "append")
    assert claim.load_id is not None
    if found is Status.LOADING:
        app.state.move(claim.load_id, Status.CLAIMED, Status.LOADING)
    [job] = list(app.pipeline.recovery.sweep(moves=True, queued=lambda job: False))
    outcome = app.pipeline.recovery.resume_job(job)
    assert outcome is not None and outcome.status is OutcomeKind.FAILED
    assert "a stream's batch cut short" in (outcome.error or "")
