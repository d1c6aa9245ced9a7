"""The load fast path (`monitor.backends.rawfile`): the file read by the backend itself (PostgreSQL
COPY of its lines, SQLite's split lines) must load exactly what the general reader would,
and give way to it (rolled back, nothing twice) when a record needs it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import CONTACTS
from requirements import has

from monitor.backends.postgres.copy_text import copy_blocks
from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.rawfile.split import row_batches
from monitor.backends.target import RawFile as RawSource
from monitor.load.read.detect import sniff
from monitor.load.read.records import iter_batches
from monitor.load.write.route import offer

HEADER = "name,number,city,note\r\n"
FALLBACK = "reading the file record by record"

# Every shape a clean file may take; the general reader loads all of these rows.
TRICKY = (
    HEADER
    + '"plain quoted","1","London","x"\r\n'
    + "unquoted,2,Leeds,y\r\n"
    + '"O\'Brien ""The Boss""","3","Cork",""\r\n'  # escaped quotes, an empty quoted field
    + '"multi\r\nline","4","York","z"\r\n'  # a line break inside quotes
    + 'stray"quote,5,Bath,w\r\n'  # a quote inside an unquoted field stays text
    + ",,,\r\n"  # a blank record: skipped
    + '"","","",""\r\n'  # a blank record, quoted: skipped
    + "\r\n"  # a blank line: skipped
    + "trailing,6,Hull,v,,\r\n"  # empty fields beyond the header: dropped
    + '"comma, inside","7","Ely",""\r\n'
    + "last,8,Wells,no newline at the end"
)


def expected_rows(path: Path) -> list[tuple]:
    """What the general reader yields, with empty values as NULL."""
    rows = [row for batch in iter_batches(path, sniff(path), 1000) for row in batch.rows]
    return sorted(tuple(v if v != "" else None for v in row) for row in rows)


def _key(row: tuple) -> tuple:
    return tuple((v is None, v or "") for v in row)


def table_rows(ws, table: str = "contacts") -> list[tuple]:
    got = ws.query(f"SELECT name, number, city, note FROM {table}")
    return sorted(got, key=_key)


def assert_read_as_it_is(ws, output: str) -> None:
    """The backend read the file itself; SQL Server's backend takes parsed batches (it says so)."""
    if not has(ws.url, "reads_files"):
        assert "the mssql backend does not read files itself" in output
    else:
        assert FALLBACK not in output  # the fast path took it


def copy_text(blocks) -> str:
    """The text `copy_blocks` hands to COPY (str, or UTF-8 bytes where proven at C speed)."""
    return "".join(block if isinstance(block, str) else block.decode("utf-8") for block, _, _ in blocks)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# -- without a database ---------------------------------------------------------------------
def test_row_batches_match_the_general_reader(tmp_path):
    path = write(tmp_path / "tricky.csv", TRICKY)
    source = RawSource(path, sniff(path))
    fast = sorted((tuple(v or None for v in row) for batch in row_batches(source, 3) for row in batch), key=_key)
    assert fast == sorted(expected_rows(path), key=_key)
    assert len(fast) == 8


def test_copy_blocks_write_canonical_csv_for_what_is_not_simple(tmp_path):
    path = write(tmp_path / "tricky.csv", TRICKY)
    text = copy_text(copy_blocks(RawSource(path, sniff(path)), block_chars=64))
    import csv

    parsed = sorted((tuple(v or None for v in row) for row in csv.reader(io.StringIO(text))), key=_key)
    assert parsed == sorted(expected_rows(path), key=_key)
    assert 'stray"quote' not in text and '"stray""quote"' in text  # quoted again: COPY reads it as Python did
    outside = text.replace("multi\r\nline", "")
    assert outside.count("\n") == outside.count("\r\n") == 8  # one line-end style, the file's, as COPY needs


@pytest.mark.parametrize("body", [
    "a,b,c,d\r\nonly,three,fields\r\n",  # another width
    '"a","b","c","d\r\n',  # a quote never closed
    '"a"x,b,c,d\r\n',  # text after a closing quote
])
def test_a_record_the_reader_must_judge_stops_the_fast_path(tmp_path, body):
    path = write(tmp_path / "bad.csv", HEADER + body)
    source = RawSource(path, sniff(path))
    with pytest.raises(NotSimple):
        list(row_batches(source, 10))
    if '"' in body:
        with pytest.raises(NotSimple):
            list(copy_blocks(source))
    else:  # quote-free lines go to COPY as they are: the server checks every record's width
        assert copy_text(copy_blocks(source)) == body  # as read, CRLF and all


def test_simple_blocks_are_taken_whole_and_proved_by_counts(tmp_path):
    quoted = "".join(f'"n{i}","{i}","c{i}","x, y"\n' for i in range(2000))
    path = write(tmp_path / "quoted.csv", '"name","number","city","note"\n' + quoted)
    blocks = list(copy_blocks(RawSource(path, sniff(path)), block_chars=4096))
    assert sum(count for _, count, _ in blocks) == 2000
    assert copy_text(blocks) == quoted  # as read: no line was written again
    odd = quoted.replace('"n5","5"', '"n5"x,"5"')
    path = write(tmp_path / "odd.csv", '"name","number","city","note"\n' + odd)
    with pytest.raises(NotSimple):
        list(copy_blocks(RawSource(path, sniff(path)), block_chars=4096))


def test_the_fast_path_is_offered_only_for_plain_text_nulls(tmp_path):
    path = write(tmp_path / "a.csv", HEADER + "a,1,b,c\n")
    fmt = sniff(path)

    def offered(**options: object) -> RawSource | None:
        settings = {"shaped": False, "null_values": [""], "careful": False, **options}
        return offer(path, fmt, on_rows=lambda rows: None, **settings)[0]  # type: ignore[arg-type]

    raw = offered()
    assert raw is not None and raw.path == path and raw.fmt == fmt
    assert offered(null_values=["", "N/A"]) is None
    assert offered(shaped=True) is None


# -- through the real command line, on every backend -----------------------------------------
def test_tricky_file_loads_what_the_reader_would(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = write(tmp_path / "tricky.csv", TRICKY)
    result = ws.cli("ingest", "-v", str(path))
    assert_read_as_it_is(ws, result.stdout + result.stderr)
    record = ws.status()[-1]
    assert (record["status"], record["rows_read"], record["rows_loaded"], record["rows_rejected"]) == (
        "loaded", 8, 8, 0)
    assert table_rows(ws) == sorted(expected_rows(path), key=_key)
    assert ws.query("SELECT DISTINCT _load_id FROM contacts") == [(record["load_id"],)]


def test_windows_1252_file_takes_the_fast_path(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = write(tmp_path / "latin.csv", HEADER + "Müller,1,Zürich,café\r\n\"Señor, Taco\",2,São Paulo,\r\n", "cp1252")
    result = ws.cli("ingest", "-v", str(path))
    assert_read_as_it_is(ws, result.stdout + result.stderr)
    assert table_rows(ws) == [("Müller", "1", "Zürich", "café"), ("Señor, Taco", "2", "São Paulo", None)]


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "plain"])
def test_a_bad_record_falls_back_to_the_reader_and_nothing_loads_twice(make_workspace, tmp_path, quoted):
    ws = make_workspace(CONTACTS)
    line = '"n{0}","{0}","c{0}","x"\r\n' if quoted else "n{0},{0},c{0},x\r\n"
    good = "".join(line.format(i) for i in range(60_000))  # over 1 MB: some of it went before the bad one
    path = write(tmp_path / "late-bad.csv", HEADER + good + "too,few\r\n" + line.format(60_001))
    result = ws.cli("ingest", "-v", str(path))
    assert FALLBACK in result.stdout + result.stderr
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"], record["rows_rejected"]) == ("loaded", 60_001, 1)
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT number) FROM contacts") == [(60_001, 60_001)]


def test_appending_again_tags_each_load(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    first = write(tmp_path / "first.csv", HEADER + "".join(f"a{i},{i},x,y\n" for i in range(50)))
    second = write(tmp_path / "second.csv", HEADER + "".join(f"b{i},{i},x,y\n" for i in range(70)))
    for path in (first, second):
        result = ws.cli("ingest", "-v", str(path))
        assert_read_as_it_is(ws, result.stdout + result.stderr)
    ids = [r["load_id"] for r in ws.status()]
    per_load = ws.query("SELECT _load_id, COUNT(*) FROM contacts GROUP BY _load_id ORDER BY _load_id")
    assert per_load == [(ids[0], 50), (ids[1], 70)]
