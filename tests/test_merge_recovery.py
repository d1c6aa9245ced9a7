"""Recovery of a merge in-process, with the real pipeline on each database: a load found
`loading` after a crash whose merge committed (a SQLite reference table commits in its own
file, apart from the daemon's tables) is marked `loaded` with the counts its merge recorded,
never merged twice; one whose merge did not commit is loaded again from its file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_csv

from monitor.config import FolderRule, Settings
from monitor.load.state.machine import FileFacts, Status
from monitor.load.write.strategies import LoadJob, Merge
from monitor.operate.app import build_app

ROWS = [["a@x.com", "Ann"], ["b@x.com", "Bob"], ["a@x.com", "Ann Lee"]]


@pytest.fixture
def app(backend_url, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rule = FolderRule(path=folder, table="contacts", mode="merge", key_columns=["Email"], reference=True)
    built = build_app(Settings(database_url=backend_url, folders=[rule], http_port=0), instance="test")
    yield built
    built.close()


def crashed_while_loading(app, path: Path) -> int:
    """A claimed file, moved to `loading`, as a crash leaves it."""
    rule = app.settings.folders[0]
    sha = path.name.encode().hex().ljust(64, "0")[:64]
    claim = app.state.claim(FileFacts(str(path), path.name, sha, path.stat().st_size), "ref", rule.table, "merge")
    assert claim.load_id is not None
    app.state.move(claim.load_id, Status.CLAIMED, Status.LOADING)
    return claim.load_id


@pytest.mark.parametrize("committed", [True, False], ids=["merge committed", "nothing committed"])
def test_a_merge_found_loading_after_a_crash_ends_loaded_exactly_once(app, tmp_path, committed):
    path = write_csv(app.settings.folders[0].path / "export.csv", ["Email", "Name"], ROWS)
    load_id = crashed_while_loading(app, path)
    if committed:  # the merge's own transaction committed; the `loaded` mark did not
        job = LoadJob(load_id, "ref", "contacts", ["email", "name"], [""], {}, ["email"])
        strategy = Merge()
        strategy.prepare(app.backend, job)
        with app.backend.transaction() as conn:
            strategy.load(conn, app.backend, job, lambda conn, t: app.backend.bulk_insert(conn, t, [ROWS]))
    outcome = app.pipeline.resume(app.state.get(load_id), app.settings.folders[0])
    row = app.state.get(load_id)
    assert outcome.status == "loaded"
    assert (row.rows_read, row.rows_loaded, row.rows_inserted, row.rows_updated, row.rows_superseded) == (3, 2, 2, 0, 1)
    with app.backend.reading() as conn:
        assert app.backend.rows_of_load(conn, "ref", "contacts", load_id) == 2
        names = app.backend.run_sql(conn, "SELECT name FROM ref.contacts ORDER BY email", fetch=True)
    assert [name for (name,) in names] == ["Ann Lee", "Bob"]
    assert not path.exists() and Path(row.current_path).exists()  # archived
