"""Bad input end to end on each backend: rows the database refuses are isolated, a file that
changes or vanishes after its hash fails clearly, a late non-UTF-8 byte, zips of several CSVs."""

from __future__ import annotations

import zipfile

from conftest import CONTACTS, engine_for

from monitor.config import load_settings
from monitor.intake.folders import processing_path
from monitor.intake.hashing import sha256_of
from monitor.load.state.machine import FileFacts
from monitor.operate.app import build_app

IDS = {**CONTACTS, "columns": {"id": "integer"}}


def execute(url: str, sql: str) -> None:
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def test_rows_the_database_refuses_are_isolated_and_the_rest_loads(make_workspace, tmp_path):
    strict = {**IDS, "path": "incoming/strict", "on_error": "abort"}
    ws = make_workspace(IDS, strict, batch_rows=4)
    base = ws.folder("contacts") / "base.csv"  # in its folder: two rules take `*.csv` from elsewhere
    base.write_text("id,email\n1,a@x.io\n2,b@x.io\n")
    ws.cli("ingest", str(base))
    execute(ws.url, "CREATE UNIQUE INDEX ux_contacts_id ON contacts (id)")
    lines = ["id,email"] + [f"{i},m{i}@x.io" for i in range(10, 20)]
    lines[3] = "2,clash-with-base@x.io"  # line 4
    lines[8] = "10,clash-within-file@x.io"  # line 9
    batch = ws.folder("contacts") / "batch.csv"
    batch.write_text("\r\n".join(lines) + "\r\n")
    ws.cli("ingest", str(batch))
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"], record["rows_rejected"]) == ("loaded", 8, 2)
    rejects = ws.query("SELECT line_number, reason, raw FROM ingest_rejects WHERE load_id = :lid "
                       "ORDER BY line_number", lid=record["load_id"])
    assert [(line, raw) for line, _, raw in rejects] == [(4, "2,clash-with-base@x.io"),
                                                         (9, "10,clash-within-file@x.io")]
    assert all(reason.startswith("refused by the database: ") for _, reason, _ in rejects)
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(10,)]
    side = next((ws.root / "incoming" / "archive" / "contacts").rglob("batch.csv.rejects.csv"))
    assert "clash-within-file" in side.read_text()

    aborted = ws.root / "incoming" / "strict" / "abort.csv"
    aborted.write_text("id,email\n30,ok@x.io\n1,clash@x.io\n31,ok@x.io\n")
    result = ws.cli("ingest", str(aborted), check=False)
    assert result.returncode == 1
    record = ws.status()[-1]
    assert record["status"] == "failed" and record["rows_rejected"] == 1
    assert "abort.csv: line 3: refused by the database" in record["error"]
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(10,)]


def test_a_file_changed_or_gone_after_its_hash_fails_clearly(make_workspace):
    ws = make_workspace(CONTACTS)
    settings = load_settings(ws.config)
    rule = settings.folders[0]
    app = build_app(settings, instance="test")
    try:
        outcomes = []
        for name, replace in (("changed.csv", "id\n1\n2\n3\n"), ("gone.csv", None)):
            path = rule.path / name
            path.write_text("id\n1\n")
            sha256, size = sha256_of(path)
            claim = app.state.claim(FileFacts(str(path), name, sha256, size), app.backend.schema_for(False),
                                    rule.table, rule.mode)
            taken = processing_path(rule.path, claim.load_id, name)
            taken.parent.mkdir(parents=True, exist_ok=True)
            path.rename(taken)
            app.state.update(claim.load_id, current_path=str(taken))
            if replace is None:
                taken.unlink()
            else:
                taken.write_text(replace)  # replaced after the hash, before the load
            outcomes.append(app.pipeline.run(claim.load_id, rule))
    finally:
        app.close()
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "changed.csv: the file changed after it was hashed" in outcomes[0].error
    assert "gone.csv: the file vanished before it was read" in outcomes[1].error
    assert not ws.query("SELECT 1 FROM ingest_files WHERE status = 'loaded'")


def test_utf8_detected_from_the_first_megabyte_falls_back_to_windows_1252(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = tmp_path / "late_accent.csv"
    rows = 60_000
    path.write_bytes(b"id,name\n" + b"".join(b"%d,plain ascii name\n" % i for i in range(rows))
                     + "99999,Café\n".encode("cp1252"))
    assert path.stat().st_size > 1 << 20
    ws.cli("ingest", str(path))
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"]) == ("loaded", rows + 1)
    assert ws.query("SELECT name FROM contacts WHERE id = '99999'") == [("Café",)]


def test_a_zip_of_several_csv_files_loads_each_member_once(make_workspace, tmp_path):
    ws = make_workspace({**CONTACTS, "pattern": "*.zip"})
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("monday.csv", "id,day\n1,mon\n2,mon\n")
        bundle.writestr("tuesday/tuesday.csv", "id,day\n3,tue\n")
    first = ws.cli("ingest", str(archive))
    assert "export.zip" in first.stdout
    again = ws.cli("ingest", str(archive))
    assert "duplicate" in again.stdout
    records = [(r["file_name"], r["status"], r["rows_loaded"]) for r in ws.status()]
    assert records == [("export.zip!monday.csv", "loaded", 2), ("export.zip!tuesday_tuesday.csv", "loaded", 1),
                       ("export.zip!monday.csv", "duplicate", 0), ("export.zip!tuesday_tuesday.csv", "duplicate", 0)]
    assert archive.exists()  # given from outside the watched folders: copied, never moved
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(3,)]
