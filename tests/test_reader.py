"""Reading hostile files: dialects, encodings, containers, raw text and line numbers of rejects."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import zipfile
from pathlib import Path

import pytest

from monitor.load.read import detect, records
from monitor.load.read.detect import detect_delimiter, sniff
from monitor.load.read.guard import FileGuard
from monitor.load.read.records import iter_batches
from monitor.source import EncodingError, SourceError, extract_members, member_file_name, zip_members


def load(path: Path, data: bytes | str, batch_rows: int = 1000, **options) -> tuple[list, list, list]:
    """Write `data`, read it back: (rows, rejects, (line, raw) of every row)."""
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    fmt = sniff(path, **options)
    rows, rejects, raws = [], [], []
    for batch in iter_batches(path, fmt, batch_rows, keep_raw=True):
        rows += batch.rows
        rejects += batch.rejects
        raws += list(zip(batch.lines, batch.raws, strict=True))
    return rows, rejects, raws


def test_rfc4180_quoting_keeps_commas_quotes_and_line_breaks(tmp_path):
    data = 'id,name,note\r\n1,"Smith, John","said ""hi"""\r\n2,"two\r\nlines",x\r\n3,,""\r\n'
    rows, rejects, raws = load(tmp_path / "a.csv", data)
    assert rows == [["1", "Smith, John", 'said "hi"'], ["2", "two\r\nlines", "x"], ["3", "", ""]]
    assert rejects == []
    assert raws == [(2, '1,"Smith, John","said ""hi"""'), (3, '2,"two\r\nlines",x'), (5, '3,,""')]


@pytest.mark.parametrize("data", [
    "id,v\r\n1,a\r\n2,b\r\n", "id,v\n1,a\n2,b\n", "id,v\r1,a\r2,b\r", "id,v\n1,a\n2,b",
    "id,v\n1,a\n2,b\n\n", "id,v\r\n1,a\r\n\r\n2,b\r\n\r\n\r\n", "id,v\n1,a\n,\n2,b\n\x1a",
])
def test_line_ends_missing_final_newline_and_blank_lines(tmp_path, data):
    rows, rejects, _ = load(tmp_path / "a.csv", data)
    assert (rows, rejects) == ([["1", "a"], ["2", "b"]], [])


def test_a_rejected_record_keeps_its_raw_text_and_line_number(tmp_path):
    data = 'id,a,b\n1,x,y\n2,"multi\nline"\n3,x,y,z\n4,x,y,,\n'
    rows, rejects, _ = load(tmp_path / "a.csv", data)
    assert rows == [["1", "x", "y"], ["4", "x", "y"]]
    assert [(r.line, r.reason, r.raw) for r in rejects] == [
        (3, "expected 3 fields, found 2", '2,"multi\nline"'),
        (5, "expected 3 fields, found 4", "3,x,y,z"),
    ]


def test_an_unterminated_quote_rejects_the_rest_of_the_file_as_one_record(tmp_path):
    rows, rejects, _ = load(tmp_path / "a.csv", 'id,v\n1,a\n2,"never closed\n3,c\n')
    assert rows == [["1", "a"]]
    assert [(r.line, r.raw) for r in rejects] == [(3, '2,"never closed\n3,c')]
    assert "unterminated" in rejects[0].reason


def test_a_stray_quote_inside_a_field_is_kept(tmp_path):
    rows, rejects, _ = load(tmp_path / "a.csv", "name,height\nJohn,5'10\"\n")
    assert (rows, rejects) == ([["John", "5'10\""]], [])


@pytest.mark.parametrize(("text", "expected"), [
    ("a,b,c\n1,2,3\n", ","), ("a;b;c\n1;2,5;3\n", ";"), ("a\tb\n1\t2\n", "\t"), ("a|b\n1|2|\n", "|"),
    ("single\n1\n", ","), ('"a;b",c\n1,2\n', ","),
    ("id,x]; DROP TABLE t;--,y; z\n1,2,3\n", ","),  # more ; in the header, but only , fits the rows
])
def test_delimiter_detection(text, expected):
    assert detect_delimiter(text) == expected


def test_a_configured_delimiter_and_an_excel_sep_line(tmp_path):
    assert load(tmp_path / "a.csv", "a;b,c\n1;2,3\n", delimiter=",")[0] == [["1;2", "3"]]
    path = tmp_path / "b.csv"
    rows, _, raws = load(path, "sep=|\nid|v\n1|x\n")
    assert rows == [["1", "x"]] and raws == [(3, "1|x")]
    assert sniff(path).header == ["id", "v"]


@pytest.mark.parametrize(("data", "codec"), [
    (codecs.BOM_UTF8 + "id,name\n1,Zoë\n".encode(), "utf-8-sig"),
    ("id,name\n1,Zoë\n".encode("utf-16"), "utf-16"),
    (codecs.BOM_UTF16_BE + "id,name\n1,Zoë\n".encode("utf-16-be"), "utf-16"),
    ("id,name\n1,Zoë\n".encode("utf-16-le"), "utf-16-le"),
    ("id,name\n1,Zoë\n".encode("cp1252"), "cp1252"),
    ("id,name\n1,Zoë\n".encode(), "utf-8"),
])
def test_encodings_are_detected(tmp_path, data, codec):
    path = tmp_path / "a.csv"
    rows, _, _ = load(path, data)
    assert rows == [["1", "Zoë"]]
    assert sniff(path).encoding == codec
    assert sniff(path).header == ["id", "name"]


def test_a_configured_encoding_is_used(tmp_path):
    rows, _, _ = load(tmp_path / "a.csv", "id,name\n1,Ångström\n".encode("latin-1"), encoding="latin-1")
    assert rows == [["1", "Ångström"]]


def test_invalid_bytes_in_the_configured_encoding_name_line_and_offset(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("id,name\n1,ok\n2,Café\n".encode("cp1252"))
    with pytest.raises(SourceError, match=r"a\.csv: line 3, byte offset 18: not valid utf-8 \(bytes e9\)"):
        sniff(path, encoding="utf-8")


def test_invalid_bytes_after_the_sample_name_line_and_offset(tmp_path, monkeypatch):
    monkeypatch.setattr(detect, "SAMPLE_BYTES", 16)
    monkeypatch.setattr(records, "CHUNK_BYTES", 7)
    path = tmp_path / "a.csv"
    good = "id,name\n" + "".join(f"{i},row{i}\n" for i in range(20))
    path.write_bytes(good.encode() + b"99,Caf\xe9\n")
    fmt = sniff(path, encoding="utf-8")
    with pytest.raises(EncodingError, match=rf"line 22, byte offset {len(good) + 6}: not valid utf-8"):
        list(iter_batches(path, fmt, 5))


def test_tiny_chunks_split_characters_and_crlf_without_changing_records(tmp_path, monkeypatch):
    data = 'id,name\r\n1,"Zoë\r\nŁódź"\r\n2,東京\r\n3,"a,""b"""\r\n'.encode()
    expected = load(tmp_path / "big.csv", data)
    for size in (1, 2, 3, 5):
        monkeypatch.setattr(records, "CHUNK_BYTES", size)
        assert load(tmp_path / f"small{size}.csv", data) == expected
    assert expected[2][0] == (2, '1,"Zoë\r\nŁódź"')


def test_a_nul_character_after_the_sample_rejects_its_record(tmp_path, monkeypatch):
    monkeypatch.setattr(detect, "SAMPLE_BYTES", 8)
    rows, rejects, _ = load(tmp_path / "a.csv", b"id,v\n1,a\n2,b\x00c\n3,d\n")
    assert rows == [["1", "a"], ["3", "d"]]
    assert [(r.line, r.raw) for r in rejects] == [(3, "2,b\x00c")]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the file is empty"),
    (b"\r\n\n", "the file is empty"),
    (b",,\n1,2,3\n", "line 1: the header is empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(50)), "a PNG image, not a CSV file"),
    (b"id,v\n1,\x00\n", "binary content (NUL bytes)"),
    (bytes(range(1, 32)) * 20, "binary content (control characters)"),
])
def test_files_that_are_not_csv_are_refused_clearly(tmp_path, data, message):
    path = tmp_path / "odd.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError, match="odd.csv: " + ".*" + message.replace("(", r"\(").replace(")", r"\)")):
        sniff(path)


def test_trailing_empty_header_names_are_dropped(tmp_path):
    rows, rejects, _ = load(tmp_path / "a.csv", "a,b,,\n1,2,,\n3,4,5,\n")
    assert rows == [["1", "2"]]
    assert [r.reason for r in rejects] == ["expected 2 fields, found 4"]


def test_gzip_and_zip_containers(tmp_path):
    gz = tmp_path / "a.csv.gz"
    gz.write_bytes(gzip.compress(b"id,v\n1,gz\n"))
    assert load(gz, gz.read_bytes())[0] == [["1", "gz"]]
    single = tmp_path / "one.zip"
    with zipfile.ZipFile(single, "w") as archive:
        archive.writestr("data.csv", "id,v\n1,zip\n")
        archive.writestr("__MACOSX/._data.csv", "junk")
    assert load(single, single.read_bytes())[0] == [["1", "zip"]]
    assert sniff(single).member == "data.csv"


def test_a_zip_of_several_csv_files_is_listed_and_extracted_member_by_member(tmp_path):
    path = tmp_path / "multi.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "id\n1\n")
        archive.writestr("dir/b.csv", "id\n2\n")
        archive.writestr("../../escape.csv", "id\n3\n")
        archive.writestr("notes.md", "skip")
    members = zip_members(path)
    assert members == ["a.csv", "dir/b.csv", "../../escape.csv"]
    names = [member_file_name(path.name, m) for m in members]
    assert names == ["multi.zip!a.csv", "multi.zip!dir_b.csv", "multi.zip!escape.csv"]
    extract_members(path, [(members[2], tmp_path / "out" / names[2])])
    assert (tmp_path / "out" / names[2]).read_text() == "id\n3\n"
    with pytest.raises(SourceError, match="the zip holds 3 CSV files, expected one"):
        sniff(path)


@pytest.mark.parametrize(("data", "message"), [
    (gzip.compress(os.urandom(4000))[:200], "damaged compressed data"),
    (b"PK\x03\x04" + b"\x01" * 100, "not a readable zip file"),
])
def test_damaged_containers_are_clear_errors(tmp_path, data, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError, match=message):
        sniff(path)


def test_an_office_document_named_csv(tmp_path):
    path = tmp_path / "report.csv"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(SourceError, match="an Office document"):
        sniff(path)


def test_the_guard_notices_a_file_changed_replaced_or_gone(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id\n1\n")
    size = path.stat().st_size
    with pytest.raises(SourceError, match="changed after it was hashed"):
        FileGuard(path, "a.csv", size + 1)
    guard = FileGuard(path, "a.csv", size)
    guard.check()
    with path.open("a") as handle:
        handle.write("2\n")
    with pytest.raises(SourceError, match=r"a\.csv: the file changed while it was being read"):
        guard.check()
    guard = FileGuard(path, "a.csv", path.stat().st_size)
    replacement = tmp_path / "b.csv"
    replacement.write_text("id\n9\n3\n")
    os.replace(replacement, path)
    with pytest.raises(SourceError, match="changed while it was being read"):
        guard.check()
    path.unlink()
    with pytest.raises(SourceError, match="vanished while it was being read"):
        guard.check()


def test_other_unicode_line_breaks_stay_inside_their_field(tmp_path):
    rows, rejects, raws = load(tmp_path / "a.csv", "id,v\n1,a\x0cb\u2028c\x85d\n2,e\n")
    assert (rows, rejects) == ([["1", "a\x0cb\u2028c\x85d"], ["2", "e"]], [])
    assert raws[0] == (2, "1,a\x0cb\u2028c\x85d")


def test_a_file_of_rejects_is_streamed_in_bounded_batches(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,v\n" + "lonely\n" * 9 + '"quote never closed\n')
    batches = list(iter_batches(path, sniff(path), 2))
    assert [len(b.rejects) for b in batches] == [2, 2, 2, 2, 2]
    assert batches[-1].rejects[-1].reason.startswith("unterminated quoted field")
