"""SQLite reading a file itself (`monitor.backends.sqlite_csv`, sqlean's `vsv` table): it must
load exactly what the general reader would, and give way (rolled back, nothing twice) to the
Python fast path or to the general reader wherever its reading could differ."""

from __future__ import annotations

import gzip
import tempfile
import zipfile
from pathlib import Path

import pytest
from conftest import CONTACTS
from test_bench_fastpath import FALLBACK, HEADER, TRICKY, _key, expected_rows, table_rows, write

from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.sqlite.csv_reader import NotNative, native_counts, native_readable
from monitor.backends.target import RawFile as RawSource
from monitor.load.read.detect import sniff

SQLITE = pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
NATIVE = "read by SQLite's CSV reader"
PYTHON = "reading the file in Python"

# Every clean shape a record may take, and no blank record: SQLite reads all of it itself.
CLEAN = (
    HEADER
    + '"plain quoted","1","London","x"\r\n'
    + "unquoted,2,Leeds,y\r\n"
    + '"O\'Brien ""The Boss""","3","Cork",""\r\n'  # escaped quotes, an empty quoted field
    + '"multi\r\nline","4","York","z"\r\n'  # a line break inside quotes
    + 'stray"quote,5,Bath,w\r\n'  # a quote inside an unquoted field stays text
    + "trailing,6,Hull,v,,\r\n"  # empty fields beyond the header: dropped
    + '"comma, inside","7","Ely",""\r\n'
    + "Zoë,8,Zürich,\r\n"  # UTF-8, an empty last field
    + "last,9,Wells,no newline at the end"
)


def ingest(ws, path: Path) -> str:
    """`ingest-monitor ingest -v` of one file; what it printed."""
    result = ws.cli("ingest", "-v", str(path))
    return result.stdout + result.stderr


def counted(path: Path, block_chars: int) -> int:
    return sum(native_counts(RawSource(path, sniff(path)), block_chars=block_chars))


# -- the check, without a database ----------------------------------------------------------
@pytest.mark.parametrize("block_chars", [64, 1 << 20], ids=["small-blocks", "one-block"])
def test_the_check_counts_what_the_general_reader_loads(tmp_path, block_chars):
    path = write(tmp_path / "clean.csv", CLEAN)
    assert counted(path, block_chars) == len(expected_rows(path)) == 9
    plain = write(tmp_path / "plain.csv", HEADER + "".join(f"n{i},{i},c{i},x\n" for i in range(500)))
    assert counted(plain, block_chars) == 500


@pytest.mark.parametrize(("body", "error"), [
    ("a,b,c,d\r\n\r\ne,f,g,h\r\n", NotNative),  # a blank line: the reader skips it, SQLite would not
    ("a,b,c,d\r\n,,,\r\n", NotNative),  # a record of empty fields: the same
    ("a,b,c,d\re,f,g,h\r", NotNative),  # lines ended by a lone CR: SQLite reads one record
    ("a,b,c,d\r\nx,y\x00z,w,v\r\n", NotNative),  # a NUL
    ("a,b,c,d,e\r\nf,g,h\r\n", NotSimple),  # widths 5 and 3: the counts add up, the records do not
    ('"a","b","c","d","e"\r\n"f","g","h"\r\n', NotSimple),  # the same, quoted
    ('"a"x,b,c,d\r\n', NotSimple),  # text after a closing quote
    ('"a","b","c","d\r\n', NotSimple),  # a quote never closed
])
@pytest.mark.parametrize("block_chars", [64, 1 << 20], ids=["small-blocks", "one-block"])
def test_the_check_refuses_what_sqlite_would_read_otherwise(tmp_path, body, error, block_chars):
    fmt = sniff(write(tmp_path / "clean.csv", HEADER + "a,b,c,d\r\n"))  # sniffing refuses a NUL itself
    source = RawSource(write(tmp_path / "odd.csv", HEADER + body), fmt)
    with pytest.raises(error):
        sum(native_counts(source, block_chars=block_chars))


def test_only_plain_utf8_files_with_a_usual_delimiter_are_offered(tmp_path):
    utf8 = write(tmp_path / "a.csv", HEADER + "Zoë,1,b,c\n")
    tabs = write(tmp_path / "t.csv", "name\tnumber\n1\t2\n")
    latin = write(tmp_path / "l.csv", HEADER + "Müller,1,b,c\n", "cp1252")
    zipped = tmp_path / "g.csv.gz"
    zipped.write_bytes(gzip.compress((HEADER + "a,1,b,c\n").encode()))
    broken_header = tmp_path / "h.csv.gz"  # the pipe leaves the header out by its line end
    broken_header.write_bytes(gzip.compress(b'"na\nme",number\na,1\n'))
    assert native_readable(RawSource(utf8, sniff(utf8))) and native_readable(RawSource(tabs, sniff(tabs)))
    assert not native_readable(RawSource(latin, sniff(latin)))
    assert native_readable(RawSource(zipped, sniff(zipped)))  # through a named pipe
    assert not native_readable(RawSource(broken_header, sniff(broken_header)))


# -- through the real command line -----------------------------------------------------------
@SQLITE
def test_a_clean_file_is_read_by_sqlite_itself(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = write(tmp_path / "clean.csv", CLEAN)
    assert NATIVE in ingest(ws, path)
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"], record["rows_rejected"]) == ("loaded", 9, 0)
    assert table_rows(ws) == sorted(expected_rows(path), key=_key)
    assert ws.query("SELECT COUNT(*) FROM contacts WHERE note IS NULL") == [(3,)]  # empty is NULL
    assert ws.query("SELECT DISTINCT _load_id FROM contacts") == [(record["load_id"],)]


@SQLITE
def test_what_sqlite_would_read_otherwise_loads_through_python(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS)
    path = write(tmp_path / "tricky.csv", TRICKY)  # blank records: the reader skips them
    output = ingest(ws, path)
    assert PYTHON in output and NATIVE not in output and FALLBACK not in output
    assert table_rows(ws) == sorted(expected_rows(path), key=_key)


@SQLITE
@pytest.mark.parametrize("where", [5, 99_990], ids=["early", "late"])
def test_a_bad_record_stops_sqlite_and_nothing_loads_twice(make_workspace, tmp_path, where):
    """Early: the check fails long before SQLite is through, and the insert stops at its next
    question; late: SQLite is through first. Either way the general reader loads the file."""
    ws = make_workspace(CONTACTS)
    lines = [f'"n{i}","{i}","c{i}","x"\r\n' for i in range(100_000)]
    lines[where] = '"too","few"\r\n'
    path = write(tmp_path / "bad.csv", HEADER + "".join(lines))
    output = ingest(ws, path)
    assert FALLBACK in output and NATIVE not in output
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"], record["rows_rejected"]) == ("loaded", 99_999, 1)
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT number) FROM contacts") == [(99_999, 99_999)]


@SQLITE
def test_odd_names_excel_separator_lines_and_fullloads(make_workspace, tmp_path):
    rule = {"path": "incoming/ref", "pattern": "*.csv", "table": "prices", "mode": "fullload", "reference": True}
    ws = make_workspace(rule)
    for version in (1, 2):  # the second swaps in over the first
        body = "sep=;\r\nname;number\r\n" + "".join(f'"it\'s; {i}";{i * version}\r\n' for i in range(300))
        path = write(tmp_path / f"o'dd, {version}.csv", body)
        output = ingest(ws, path)
        assert NATIVE in output
    assert ws.query("SELECT COUNT(*), MAX(CAST(number AS INTEGER)), MIN(name) FROM ref.prices") == [
        (300, 598, "it's; 0")]
    assert ws.query("SELECT COUNT(*) FROM bkp.prices") == [(300,)]


@SQLITE
def test_the_standard_sqlite3_driver_loads_the_same_through_python(make_workspace, tmp_path):
    ws = make_workspace(CONTACTS, sqlite_driver="sqlite3")
    path = write(tmp_path / "clean.csv", CLEAN)
    output = ingest(ws, path)
    assert NATIVE not in output and FALLBACK not in output
    assert table_rows(ws) == sorted(expected_rows(path), key=_key)


def _compressed(path: Path, kind: str) -> Path:
    """`path`'s bytes as a `.zip` (one member) or a `.gz` beside it."""
    if kind == "gz":
        out = path.with_name(path.name + ".gz")
        out.write_bytes(gzip.compress(path.read_bytes()))
    else:
        out = path.with_suffix(".zip")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(path, path.name)
    return out


@SQLITE
@pytest.mark.parametrize("kind", ["zip", "gz"])
def test_a_compressed_file_is_read_by_sqlite_through_a_pipe(make_workspace, tmp_path, kind):
    """Expanded into a named pipe, never onto disk: SQLite reads it itself, every row as the
    general reader reads the plain file; an Excel `sep=` line and the header stay out."""
    rule = {**CONTACTS, "pattern": "*.*"}
    ws = make_workspace(rule)
    body = CLEAN.replace(HEADER, "sep=,\r\n" + HEADER, 1)
    plain = write(tmp_path / "clean.csv", body)
    output = ingest(ws, _compressed(plain, kind))
    assert NATIVE in output
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"], record["rows_rejected"]) == ("loaded", 9, 0)
    assert table_rows(ws) == sorted(expected_rows(plain), key=_key)
    assert not list(Path(tempfile.gettempdir()).glob("ingest-monitor-fifo-*"))  # the pipe is gone


@SQLITE
def test_a_bad_record_late_in_a_zip_stops_sqlite_and_nothing_loads_twice(make_workspace, tmp_path):
    ws = make_workspace({**CONTACTS, "pattern": "*.*"})
    lines = [f'"n{i}","{i}","c{i}","x"\r\n' for i in range(100_000)]
    lines[99_990] = '"too","few"\r\n'
    output = ingest(ws, _compressed(write(tmp_path / "bad.csv", HEADER + "".join(lines)), "zip"))
    assert FALLBACK in output and NATIVE not in output
    record = ws.status()[-1]
    assert (record["status"], record["rows_loaded"], record["rows_rejected"]) == ("loaded", 99_999, 1)
    assert ws.query("SELECT COUNT(*), COUNT(DISTINCT number) FROM contacts") == [(99_999, 99_999)]
