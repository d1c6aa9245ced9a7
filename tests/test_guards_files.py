"""Guards on files and configurations through the real daemon, on every backend: an unclosed
quote fails its file in the same words whichever reader takes it; a blank key (every Unicode
space) is rejected on the database's own path too; a 2,000,000-character value loads; a zip
bomb is stopped before it writes to disk; `run` refuses what `check-config` calls a problem
(a rule watching another's failed/ folder, a dotted table name), and starts on warnings."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import CONTACTS, drop, wait_for

from monitor.operate.exits import Exit

GIB = 1 << 30


def audit(ws) -> dict[str, tuple]:
    """file name -> (status, rows loaded, rows rejected, error) of its latest audit row."""
    rows = ws.query("SELECT file_name, status, rows_loaded, rows_rejected, error FROM ingest_files ORDER BY load_id")
    return {name: tuple(rest) for name, *rest in rows}


def ended(ws, names):
    def check():
        found = audit(ws)
        done = ("loaded", "failed", "duplicate", "superseded")
        return found if all(found.get(name, ("",))[0] in done for name in names) else None
    return check


def stray_quote_file(path: Path) -> Path:
    """100 lines: a header and 99 rows; a stray quote opens a field on line 22."""
    lines = ["Email,Name,Town"]
    for number in range(2, 101):
        name = '"Smith, J' if number == 22 else f"Name {number}"
        lines.append(f"user{number}@x.io,{name},Town {number}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


QUOTE_RULES = [
    {"path": "in/plain", "table": "plain", "mode": "append"},  # the database reads the file itself
    {"path": "in/snap", "table": "snap", "mode": "fullload"},
    {"path": "in/merged", "table": "merged", "mode": "merge", "key_columns": ["Email"]},
    {"path": "in/nulls", "table": "nulls", "mode": "append", "null_values": ["", "NULL"]},  # the general reader
    {"path": "in/strict", "table": "strict", "mode": "append", "on_error": "skip_file", "max_rejects": 100},
]


def test_an_unclosed_quote_fails_its_file_in_the_same_words_on_every_path(make_workspace, tmp_path):
    ws = make_workspace(*QUOTE_RULES, http_port=0)
    source = stray_quote_file(tmp_path / "people.csv")
    with ws.daemon():
        for rule in QUOTE_RULES:
            drop(source, ws.folder(rule["table"]), f"{rule['table']}.csv")
        found = wait_for(ended(ws, [f"{rule['table']}.csv" for rule in QUOTE_RULES]), timeout=180)
    for rule in QUOTE_RULES:
        name = f"{rule['table']}.csv"
        assert found[name][0] == "failed", (name, found[name])
        assert found[name][3] == (f"{name}: line 22: a quote opened on this line is never closed: it would swallow "
                                  "79 line(s), to the end of the file at line 100: not loaded (close or remove the "
                                  "stray quote)"), (name, found[name][3])
    assert ws.query("SELECT COUNT(*) FROM ingest_rejects") == [(0,)]


def test_a_quoted_field_over_more_lines_than_the_bound_fails_its_file(make_workspace, tmp_path):
    ws = make_workspace(QUOTE_RULES[0], QUOTE_RULES[3], http_port=0, limits={"max_record_lines": 20})
    source = tmp_path / "long.csv"
    source.write_text('Email,Name,Town\na@x.io,"' + "line\n" * 30 + '",York\nb@x.io,B,Ely\n', encoding="utf-8")
    with ws.daemon():
        for table in ("plain", "nulls"):
            drop(source, ws.folder(table), f"{table}.csv")
        found = wait_for(ended(ws, ["plain.csv", "nulls.csv"]), timeout=120)
    for table in ("plain", "nulls"):
        assert found[f"{table}.csv"][0] == "failed"
        assert (f"{table}.csv: line 2: a quoted field of the record starting on this line is not closed within 20 "
                "lines (limits.max_record_lines)") in found[f"{table}.csv"][3]


BLANKS = ["\u00a0", "\u2007", " \u3000 ", "\t", "\u202f"]


def test_blank_keys_are_rejected_on_the_databases_own_path(make_workspace, tmp_path):
    """A merge file read by the database itself: keys of nothing but no-break, figure,
    ideographic or narrow spaces are found among the staged rows and rejected, as the general
    reader rejects them; so is a configured null value."""
    rules = [{"path": "in/fast", "table": "fast", "mode": "merge", "key_columns": ["Email"]},
             {"path": "in/nulls", "table": "nulls", "mode": "merge", "key_columns": ["Email"],
              "null_values": ["", "N/A"]}]
    ws = make_workspace(*rules, http_port=0)
    rows = ["Email,Name", "a@x.io,A", *(f"{blank},blank {i}" for i, blank in enumerate(BLANKS)), "N/A,null",
            "b@x.io,B"]
    source = tmp_path / "keys.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with ws.daemon():
        drop(source, ws.folder("fast"), "fast.csv")
        drop(source, ws.folder("nulls"), "nulls.csv")
        found = wait_for(ended(ws, ["fast.csv", "nulls.csv"]), timeout=120)
    assert found["fast.csv"][:3] == ("loaded", 3, len(BLANKS))  # `N/A` is a key where it is no null value
    assert found["nulls.csv"][:3] == ("loaded", 2, len(BLANKS) + 1), found["nulls.csv"]
    assert sorted(email for (email,) in ws.query("SELECT email FROM fast")) == ["N/A", "a@x.io", "b@x.io"]
    reasons = {reason for (reason,) in ws.query("SELECT reason FROM ingest_rejects")}
    assert reasons == {"empty key column email"}


def test_a_two_million_character_value_loads(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, http_port=0)
    source = tmp_path / "blob.csv"
    source.write_text("Email,Blob\na@x.io," + "x" * 2_000_000 + "\nb@x.io,small\n", encoding="utf-8")
    with ws.daemon():
        drop(source, ws.folder("contacts"))
        found = wait_for(ended(ws, ["blob.csv"]), timeout=180)
    assert found["blob.csv"][:3] == ("loaded", 2, 0), found["blob.csv"]
    length = "LEN" if ws.url.startswith("mssql") else "LENGTH"
    assert ws.query(f"SELECT MAX({length}(blob)) FROM contacts") == [(2_000_000,)]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 10 MB zip: one small CSV member, and one that expands to 2 GiB (its expansion ratio
    within the default 200, so only the disk stops it)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    rows = b"1,a\n" * (1 << 18)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("ok.csv", "id,v\n1,a\n")
        with archive.open("huge.csv", "w", force_zip64=True) as out:
            out.write(b"id,v\n")
            for _ in range(2048):
                out.write(rows)
    return path


def test_a_zip_bomb_is_stopped_before_it_writes_to_disk(make_workspace, tmp_path, small_disk, bomb):
    """The watched folder on a 1.2 GiB file system: extracting the 2 GiB member would leave less
    than the 1 GiB floor free, so it is never written (not a byte past the floor)."""
    small_disk(tmp_path / "ws" / "in", 1200 << 20)  # the watched folder and its work folders beside it
    ws = make_workspace({"path": "in/zips", "pattern": "*.zip", "table": "zipped", "mode": "append"}, http_port=0)
    with ws.daemon():
        drop(bomb, ws.folder("zipped"))
        found = wait_for(ended(ws, ["bomb.zip"]), timeout=180)
    status, _, _, error = found["bomb.zip"]
    assert status == "failed"
    assert error.startswith("bomb.zip: member huge.csv: extracting it to ") and "would leave less than 1 GiB free " \
        "there" in error and "limits.min_free_bytes" in error, error
    assert not [p for p in (tmp_path / "ws" / "in").rglob("*") if p.is_file() and "huge" in p.name]


def overlapping(make_workspace):
    return make_workspace({"path": "in/a", "table": "a", "mode": "append"},
                          {"path": "in/failed/a", "table": "b", "mode": "append"}, http_port=0)


def test_run_refuses_what_check_config_calls_a_problem_in_the_same_words(make_workspace):
    ws = overlapping(make_workspace)
    checked = ws.cli("check-config", check=False)
    assert checked.returncode == Exit.USAGE
    problem = next(line.removeprefix("  - ") for line in checked.stdout.splitlines() if "failed" in line)
    assert problem.startswith("folders[1].path: ") and "is where folders[0] keeps its failed files" in problem
    run = ws.cli("run", check=False, timeout=120)
    assert run.returncode == Exit.USAGE
    assert run.stderr.strip() == f"config error: not starting: {problem}"


def test_run_starts_on_warnings(make_workspace, tmp_path):
    ws = make_workspace({"path": "in/a", "table": "a", "mode": "append"},
                        {"path": "in/b", "table": "b", "mode": "append"}, http_port=0)
    checked = ws.cli("check-config")
    assert checked.returncode == 0 and "warning: folders[1] (b) and folders[0] (a)" in checked.stdout
    (tmp_path / "one.csv").write_text("id\n1\n")
    with ws.daemon() as daemon:
        drop(tmp_path / "one.csv", ws.folder("a"))
        wait_for(ended(ws, ["one.csv"]), timeout=120)
    assert "config: folders[1] (b) and folders[0] (a)" in daemon.output()


@pytest.mark.parametrize(("table", "hint"), [
    ("ref.companies", '"table": "companies" with "reference": true'),
    ("sales.orders", '"table": "orders" (the schema is not a rule key'),
])
def test_a_dotted_table_name_is_refused_by_check_config_and_run_with_a_hint(make_workspace, table, hint):
    ws = make_workspace({"path": "in/x", "table": table, "mode": "fullload"}, http_port=0)
    checked = ws.cli("check-config", check=False)
    assert checked.returncode == Exit.USAGE and hint in checked.stdout and "holds a dot" in checked.stdout
    run = ws.cli("run", check=False, timeout=120)
    assert run.returncode == Exit.USAGE and hint in run.stderr and "holds a dot" in run.stderr


def test_every_command_reads_a_target_the_same_way(make_workspace, tmp_path):
    ws = make_workspace({"path": "in/c", "table": "companies", "mode": "fullload", "reference": True}, http_port=0)
    (tmp_path / "c.csv").write_text("id\n1\n")
    ws.cli("ingest", "--rule", "companies", str(tmp_path / "c.csv"))
    for target in ("ref.companies", "companies"):
        rows = json.loads(ws.cli("status", "--target", target, "--json").stdout)
        assert [r["target"] for r in rows] == ["ref.companies"], target
        sets = ws.cli("status", "--target", target, "--sets")
        assert sets.returncode == 0, target
    other = ws.cli("status", "--target", "bkp.companies", check=False)
    assert other.returncode == Exit.FAILED and "no such target: bkp.companies" in other.stderr
