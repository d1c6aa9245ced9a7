"""Guards on snapshots through the real daemon, on every backend: copies of a waiting part (the
names browsers, file managers and mail clients give them) never replace the table and the
set still loads whole; the shrink guard keeps the table, says so everywhere and lets an
operator load the snapshot on purpose; a snapshot dated in the future is refused and
supersedes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import COMPANIES, drop, wait_for
from test_web_status import api, free_port, metrics, started

from monitor.demo.ch_parts import one_file_name, write_companies_house_parts
from monitor.demo.companies_house import write_companies_house
from monitor.operate.exits import Exit

RULE = {**COMPANIES, "pattern": "*BasicCompanyData*"}  # `Copy of BasicCompanyData-...` matches too
SHRUNK = "ingest_shrink_refused"


def audit(ws) -> dict[str, tuple]:
    """file name -> (load id, status, error, duplicate_of) of its latest audit row."""
    rows = ws.query("SELECT file_name, load_id, status, error, duplicate_of FROM ingest_files ORDER BY load_id")
    return {name: (load_id, status, error, duplicate_of) for name, load_id, status, error, duplicate_of in rows}


def ended(ws, names, status: str):
    def check():
        found = audit(ws)
        return found if all(found.get(name, (0, ""))[1] == status for name in names) else None
    return check


def rows_of(ws) -> int:
    return ws.query("SELECT COUNT(*) FROM ref.companies")[0][0]


def events_of(ws, load_id: int) -> str:
    return " | ".join(str(d) for (d,) in ws.query("SELECT detail FROM ingest_events WHERE load_id = :lid "
                                                  "ORDER BY event_id", lid=load_id))


def test_copies_of_a_waiting_part_never_replace_the_table_and_the_set_loads_whole(make_workspace, tmp_path):
    ws = make_workspace(RULE, http_port=0)
    folder = ws.folder("companies")
    source = tmp_path / "source"
    source.mkdir()
    previous = write_companies_house(source / one_file_name("2026-10-01"), 300, seed=1)
    parts = write_companies_house_parts(source / "parts", "2026-11-01", 240, seed=2, parts=3)
    other = write_companies_house_parts(source / "other", "2026-11-01", 240, seed=9, parts=3)[0]
    first = parts[0].name  # BasicCompanyData-2026-11-01-part1_3.zip
    stem = first.removesuffix(".zip")
    same = [f"{stem} (1).zip", f"{stem}(2).zip", f"{stem} - Copy.zip", f"{stem} copy.zip", f"{stem} copy 2.zip",
            f"{stem} 2.zip", f"{stem} (copy).zip", f"{stem} (another copy).zip", f"{stem} (3rd copy).zip",
            f"Copy of {first}"]
    differs = f"{stem} - Copy (2).zip"
    renamed = "BasicCompanyData-latest.zip"  # the part's bytes under a name that is no part's
    with ws.daemon():
        drop(previous, folder)
        wait_for(ended(ws, [previous.name], "loaded"), timeout=120)
        drop(parts[0], folder)
        wait_for(ended(ws, [first], "waiting"), timeout=120)
        for name in same:
            drop(parts[0], folder, name)
        drop(parts[0], folder, renamed)
        drop(other, folder, differs)
        wait_for(ended(ws, [*same, renamed], "duplicate"), timeout=120)
        wait_for(ended(ws, [differs], "failed"), timeout=120)
        assert rows_of(ws) == 300  # never replaced by one part
        for part in parts[1:]:
            drop(part, folder)
        found = wait_for(ended(ws, [p.name for p in parts], "loaded"), timeout=180)
    original = found[first][0]
    for name in same:
        load_id, _, _, duplicate_of = found[name]
        assert duplicate_of == original, name
        assert f"a copy of {first}: part 1 of 3" in events_of(ws, load_id), name
    assert found[renamed][3] == original and "a copy of that part, not a snapshot" in events_of(ws, found[renamed][0])
    error = found[differs][2]
    assert error.startswith(f"{differs}: named as a copy of {first}, part 1 of 3 of set ") and \
        f"here as load {original} ({first}), but its content differs: not loaded" in error, error
    assert rows_of(ws) == 240
    assert ws.query("SELECT COUNT(DISTINCT _load_id) FROM ref.companies") == [(3,)]
    assert ws.query("SELECT COUNT(*) FROM ingest_files WHERE status IN ('claimed', 'loading', 'waiting')") == [(0,)]
    assert ws.query("SELECT status FROM ingest_sets") == [("loaded",)]


def test_a_set_whose_part_was_loaded_as_a_snapshot_fails_whole_and_never_jams(make_workspace, tmp_path):
    """A part's bytes loaded first as a snapshot of its own (the shrink guard off, the table
    new): the set can never load (one content per target), so its other parts fail saying why,
    whichever arrives first; the part itself is a duplicate of that load."""
    ws = make_workspace({**RULE, "min_row_share": 0}, http_port=0)
    folder = ws.folder("companies")
    parts = write_companies_house_parts(tmp_path / "parts", "2026-11-01", 90, seed=2, parts=3)
    with ws.daemon() as daemon:
        drop(parts[0], folder, "BasicCompanyData-latest.zip")
        loose = wait_for(ended(ws, ["BasicCompanyData-latest.zip"], "loaded"), timeout=120)
        drop(parts[1], folder)
        wait_for(ended(ws, [parts[1].name], "waiting"), timeout=120)
        drop(parts[0], folder)
        drop(parts[2], folder)
        found = wait_for(ended(ws, [parts[1].name, parts[2].name], "failed"), timeout=180)
    assert "unique constraint" not in daemon.output() and "internal error" not in daemon.output()
    assert found[parts[0].name][1] == "duplicate"
    assert found[parts[0].name][3] == loose["BasicCompanyData-latest.zip"][0]
    for part in parts[1:]:
        assert "part 1 of 3 of BasicCompanyData-2026-11-01 arrived as load" in found[part.name][2], found[part.name]
        assert "the set cannot load" in found[part.name][2]
    assert ws.query("SELECT COUNT(*) FROM ingest_files WHERE status IN ('claimed', 'loading', 'waiting')") == [(0,)]
    assert rows_of(ws) == 30


def test_the_shrink_guard_keeps_the_table_says_so_and_retry_allow_shrink_loads_it(make_workspace, tmp_path):
    port = free_port()
    ws = make_workspace(RULE, http_port=port)
    folder = ws.folder("companies")
    full = write_companies_house(tmp_path / one_file_name("2026-10-01", zipped=False), 200, seed=1)
    small = write_companies_house(tmp_path / one_file_name("2026-11-01", zipped=False), 40, seed=2)
    daemon, base = started(ws, port)
    with daemon:
        drop(full, folder)
        wait_for(ended(ws, [full.name], "loaded"), timeout=120)
        assert metrics(base)[(SHRUNK, (("target", "ref.companies"),))] == 0
        drop(small, folder)
        found = wait_for(ended(ws, [small.name], "failed"), timeout=120)
        refused = found[small.name][0]
        assert metrics(base)[(SHRUNK, (("target", "ref.companies"),))] == 1
        page = api(base)["shrink_refused"]
        assert [(item["target"], item["load_id"]) for item in page] == [("ref.companies", refused)]
    error = found[small.name][2]
    assert ("the shrink guard: the new snapshot has 40 rows, 20.0% of the 200 rows ref.companies holds now "
            "(below min_row_share 0.5): not swapped in, the table is unchanged") in error, error
    assert rows_of(ws) == 200
    status = ws.cli("status", "--target", "ref.companies", "--status", "failed", "--json").stdout
    assert "the shrink guard" in status
    again = ws.cli("retry", str(refused), check=False)
    assert again.returncode == Exit.FAILED and rows_of(ws) == 200  # a plain retry is refused the same way
    forced = ws.cli("retry", audit(ws)[small.name][0].__str__(), "--allow-shrink")
    assert "loaded" in forced.stdout, forced.stdout + forced.stderr
    assert rows_of(ws) == 40
    _, status_now, note, _ = audit(ws)[small.name]
    assert status_now == "loaded" and "loaded past the shrink guard on purpose (--allow-shrink): 40 rows replaced " \
        "200" in note, note
    daemon, base = started(ws, port)
    with daemon:
        assert metrics(base)[(SHRUNK, (("target", "ref.companies"),))] == 0


def test_a_set_far_smaller_than_the_table_is_refused_whole_then_loaded_on_purpose(make_workspace, tmp_path):
    ws = make_workspace(RULE, http_port=0)
    folder = ws.folder("companies")
    full = write_companies_house(tmp_path / one_file_name("2026-10-01"), 300, seed=1)
    parts = write_companies_house_parts(tmp_path / "parts", "2026-11-01", 60, seed=2, parts=3)
    with ws.daemon():
        drop(full, folder)
        wait_for(ended(ws, [full.name], "loaded"), timeout=120)
        for part in parts:
            drop(part, folder)
        found = wait_for(ended(ws, [p.name for p in parts], "failed"), timeout=180)
    assert all("the shrink guard: the new snapshot has 60 rows, 20.0% of the 300 rows" in found[p.name][2]
               for p in parts)
    assert rows_of(ws) == 300
    ws.cli("retry", str(found[parts[1].name][0]), "--allow-shrink")
    assert rows_of(ws) == 60 and ws.query("SELECT COUNT(DISTINCT _load_id) FROM ref.companies") == [(3,)]


def test_a_snapshot_dated_in_the_future_is_refused_and_supersedes_nothing(make_workspace, tmp_path):
    ws = make_workspace(RULE, http_port=0)
    folder = ws.folder("companies")
    today = datetime.now(UTC).date()
    typo = write_companies_house(tmp_path / one_file_name(today.replace(year=today.year + 36).isoformat(),
                                                          zipped=False), 50, seed=1)
    tomorrow = write_companies_house(tmp_path / one_file_name((today + timedelta(days=2)).isoformat()), 50, seed=3)
    real = write_companies_house(tmp_path / one_file_name(today.isoformat(), zipped=False), 60, seed=2)
    future_set = write_companies_house_parts(tmp_path / "parts", f"{today.year + 1}-01-01", 30, seed=4, parts=2)
    with ws.daemon():
        for path in (typo, tomorrow, *future_set):
            drop(path, folder)
        found = wait_for(ended(ws, [typo.name, tomorrow.name, *(p.name for p in future_set)], "failed"),
                         timeout=120)
        drop(real, folder)
        wait_for(ended(ws, [real.name], "loaded"), timeout=120)
    for name in (typo.name, tomorrow.name):
        assert "is in the future (today is" in found[name][2] and "supersedes nothing" in found[name][2], found[name]
    assert all("is in the future" in found[p.name][2] for p in future_set)
    assert rows_of(ws) == 60
