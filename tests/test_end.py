"""`StateStore.end`, the one way a load ends: on each real database, every terminal state a load
can reach is written with its timings and its pending move, the move is made, the outcome says
the end, and the staging table the load made (`<table>__stg_<load id>`) is dropped with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.backends import Backend
from monitor.load.state.machine import FileFacts, StateStore, Status, TransitionError
from monitor.load.state.outcome import OutcomeKind

ENDS = [
    (Status.CLAIMED, Status.FAILED),
    (Status.CLAIMED, Status.DUPLICATE),
    (Status.CLAIMED, Status.SUPERSEDED),
    (Status.LOADING, Status.LOADED),
    (Status.LOADING, Status.FAILED),
    (Status.LOADING, Status.SUPERSEDED),
]


def claimed(backend: Backend, state: StateStore, folder: Path, name: str = "a.csv") -> int:
    dropped = folder / name
    dropped.write_text("a\n1\n")
    claim = state.claim(FileFacts(str(dropped), name, name.encode().hex().ljust(64, "0"), 4),
                        backend.schema_for(True), "people", "fullload")
    assert claim.load_id is not None
    return claim.load_id


def staging_tables(backend: Backend) -> list[str]:
    with backend.reading() as conn:
        return [name for name in backend.tables_in(conn, backend.schema_for(True)) if "__stg_" in name
                or "__merge_" in name]


def make_staging(backend: Backend, load_id: int, merge: bool = False) -> str:
    """The staging table a fullload of `load_id` makes (`merge`: a merge's)."""
    schema = backend.schema_for(True)
    name = backend.staging_of(schema, "people", load_id).table if merge else backend.staging_name("people", load_id)
    with backend.transaction() as conn:
        backend.create_table(conn, schema, name, ["a"])
    return name


@pytest.mark.parametrize(("source", "target"), ENDS, ids=[f"{s}-{t}" for s, t in ENDS])
def test_each_end_records_moves_and_drops_the_loads_staging_table(backend, tmp_path, source, target):
    state = StateStore(backend, "test")
    load_id = claimed(backend, state, tmp_path)
    other = claimed(backend, state, tmp_path, "b.csv")  # another load's staging table is left alone
    if source is Status.LOADING:
        state.move(load_id, Status.CLAIMED, Status.LOADING)
    make_staging(backend, load_id)
    make_staging(backend, load_id, merge=True)
    kept = make_staging(backend, other)
    moved_to = tmp_path / "done" / "a.csv"
    moved_to.parent.mkdir()

    outcome = state.end(load_id, source, target, move_to=moved_to, error="why" if target is Status.FAILED else None)

    assert staging_tables(backend) == [kept]
    assert outcome.status is OutcomeKind(target.value) and outcome.load_id == load_id
    record = state.get(load_id)
    assert record is not None
    assert (record.status, record.pending_move_to, record.current_path) == (target, None, str(moved_to))
    assert record.finished_at is not None and record.duration_ms is not None and record.lease_expires is None
    assert moved_to.exists() and not (tmp_path / "a.csv").exists()


def test_an_end_inside_a_transaction_commits_with_it(backend, tmp_path):
    """`end_in` writes in the caller's transaction: rolled back with it, nothing ended or dropped."""
    state = StateStore(backend, "test")
    load_id = claimed(backend, state, tmp_path)
    staging = make_staging(backend, load_id)
    with pytest.raises(RuntimeError), backend.transaction() as conn:
        state.end_in(conn, load_id, Status.CLAIMED, Status.FAILED, error="why")
        raise RuntimeError("the work it ends with fails")
    assert state.get(load_id).status == Status.CLAIMED
    assert staging_tables(backend) == [staging]
    with backend.transaction() as conn:
        state.end_in(conn, load_id, Status.CLAIMED, Status.FAILED, error="why")
    assert state.ended(load_id).status is OutcomeKind.FAILED
    assert staging_tables(backend) == []


def test_only_a_terminal_state_is_an_end(backend, tmp_path):
    state = StateStore(backend, "test")
    load_id = claimed(backend, state, tmp_path)
    with pytest.raises(TransitionError, match="is not an end"):
        state.end(load_id, Status.CLAIMED, Status.LOADING)
    assert state.get(load_id).status == Status.CLAIMED


def test_a_load_resumed_without_its_file_fails_and_drops_its_staging_table(backend_url, tmp_path):
    """The path that once forgot it: a fullload stopped mid-fill (its staging table committed),
    resumed after a restart with its file gone, ends `failed` and leaves no staging table."""
    from monitor.config import Settings
    from monitor.operate.app import build_app

    folder = tmp_path / "in"
    folder.mkdir()
    settings = Settings.model_validate({"database_url": backend_url, "http_port": 0, "folders": [
        {"path": str(folder), "pattern": "*.csv", "table": "people", "mode": "fullload", "reference": True}]})
    app = build_app(settings, instance="test")
    try:
        load_id = claimed(app.backend, app.state, folder)
        app.state.move(load_id, Status.CLAIMED, Status.LOADING)
        make_staging(app.backend, load_id)
        (folder / "a.csv").unlink()
        record = app.state.get(load_id)
        assert record is not None
        outcome = app.pipeline.resume(record, settings.folders[0])
        assert outcome.status is OutcomeKind.FAILED and "not found after a restart" in (outcome.error or "")
        assert staging_tables(app.backend) == []
    finally:
        app.close()
