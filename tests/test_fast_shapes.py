"""Every valid CSV shape on the fast path (`monitor.backends.rawfile.proof`), in-process on the
real databases: the table read by PostgreSQL's COPY or SQLite's `vsv` holds exactly the
general reader's rows, and the log says which way the records went. Random shapes are seeded."""

from __future__ import annotations

import csv
import io
import logging
import random
from pathlib import Path

import pytest
from requirements import has

from monitor.backends.postgres.copy_text import copy_blocks
from monitor.backends.rawfile.proof import prove
from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.sqlite.csv_reader import native_counts
from monitor.backends.target import RawFile, Target
from monitor.load.read.detect import sniff
from monitor.load.read.records import iter_batches
from monitor.load.write.route import GENERAL, RowSource, offer, write_rows

BACKENDS = pytest.mark.parametrize("backend_url", ["sqlite", "postgresql"], indirect=True)
COPY = "read by COPY from its lines"
BY_LINE = "parsed line by line in Python"
VSV = "read by SQLite's CSV reader"
INSERTION_ORDER = {"postgresql": "ctid", "sqlite": "rowid"}  # each database's SQL for the order rows went in
HEADER = "name,number,city,note"

SHAPES = {  # each loads on its backend's own reader, no record parsed in Python
    "quoted LF line breaks": HEADER + '\n"two\nlines","1","York",""\n"a","2","b","c"\n',
    "quoted CRLF line breaks in a CRLF file": HEADER + '\r\n"two\r\nlines","1","York",""\r\nb,2,"c\r\n\r\nd",e\r\n',
    "LF inside quotes in a CRLF file": HEADER + '\r\n"two\nlines","1","York","x"\r\n"a","2","b","c"\r\n',
    '"" escapes': HEADER + '\n"say ""hi""","1","""x""",""""\nplain,2,"a""b",c\n',
    "blank lines inside a quoted field": HEADER + '\n"a\n\n\nb","1",,x\n"c","2","\n",y\n',
    "quotes only where needed": HEADER + '\nplain,1,"York, North",\n,2,"a\nb",z\n',
    "mixed line ends": HEADER + '\r\na,1,York,x\nb,2,Leeds,y\r\n"c\r\nd",3,Ely,z\n',
}
SLOWER = {  # sound, but a stretch of the file goes line by line (and where SQLite cannot read it itself)
    "a stray quote in an unquoted field": HEADER + '\nstr"ay,1,York,x\n"a\nb","2","c","d"\n',
    "CR-only line ends": HEADER + '\r"a","1","York","x"\r"b\rc","2","Ely",""\r',
    "a blank record": HEADER + '\n"a\nb",1,c,d\n,,,\n"","","",""\n\ne,2,f,g\n',
}
REFUSED = {  # the general reader takes the file (text after a closing quote, a quote never closed)
    "text after a closing quote": HEADER + '\n"a"x,1,York,z\n"b",2,c,d\n',
    "a quote never closed": HEADER + '\n"a,1,York,z\nb,2,c,d\n',
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shape.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def reader_rows(path: Path) -> list[tuple]:
    """The general reader's rows, the empty string as NULL, in file order."""
    return [tuple(v or None for v in row) for batch in iter_batches(path, sniff(path), 1000) for row in batch.rows]


def load(backend, path: Path, caplog) -> tuple[list[tuple], str]:
    """The file's rows written into a fresh table the way a run does: (the table's rows in
    load order, what the route logged)."""
    fmt = sniff(path)
    with path.open(encoding="utf-8", newline="") as handle:
        width = len(next(csv.reader(handle)))
    columns = [f"c{i}" for i in range(width)]
    raw, why_not = offer(path, fmt, shaped=False, null_values=[""], careful=False, on_rows=lambda rows: None)
    source = RowSource(path.name, lambda: (batch.rows for batch in iter_batches(path, fmt, 500)), raw, why_not)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="monitor.route"), backend.transaction() as conn:
        backend.create_table(conn, backend.default_schema, "shape", columns)
        write_rows(conn, backend, Target(backend.default_schema, "shape", columns, 9, fresh=True), source)
    said = " | ".join(r.getMessage() for r in caplog.records if r.name == "monitor.route")
    with backend.reading() as conn:
        rows = conn.exec_driver_sql(f"SELECT {', '.join(columns)} FROM {backend.qualified(None, 'shape')} "
                                    f"ORDER BY {INSERTION_ORDER[backend.name]}")
        return [tuple(row) for row in rows], said


def read_itself(backend, said: str) -> bool:
    """The database read the file itself, in its own words (COPY's or SQLite's reader's)."""
    return f"read by {backend.reads_files_by}" in said and (COPY in said or VSV in said)


@BACKENDS
@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_valid_shape_is_read_by_the_database_itself(backend, tmp_path, shape, caplog):
    path = write(tmp_path, SHAPES[shape])
    rows, said = load(backend, path, caplog)
    assert rows == reader_rows(path) and rows
    assert read_itself(backend, said) and BY_LINE not in said, said


@BACKENDS
@pytest.mark.parametrize("shape", list(SLOWER))
def test_shapes_read_partly_line_by_line_load_the_same_rows(backend, tmp_path, shape, caplog):
    path = write(tmp_path, SLOWER[shape])
    rows, said = load(backend, path, caplog)
    assert rows == reader_rows(path) and rows
    assert GENERAL not in said, said
    if has(backend, "parsed_lines_fed"):
        assert COPY in said and BY_LINE in said, said


@BACKENDS
@pytest.mark.parametrize("shape", list(REFUSED))
def test_shapes_the_general_reader_must_judge_go_to_it(backend, tmp_path, shape, caplog):
    path = write(tmp_path, REFUSED[shape])
    try:
        want = reader_rows(path)
    except Exception:  # the reader refuses the file: so must the run
        want = None
    if want is None:
        with pytest.raises(Exception):  # noqa: B017  (the reader's own error, whatever its class)
            load(backend, path, caplog)
        return
    rows, said = load(backend, path, caplog)
    assert GENERAL in said and rows == want, said


def test_the_proof_refuses_exactly_the_shapes_where_the_parsers_part():
    assert prove('"a""b",c\n"d\ne",f\n', ",", 1 << 20).records == 2
    assert prove('"a","b\n', ",", 1 << 20).tail == '"a","b\n'  # the record goes on past the block
    for block in ('a"b,c\n', '"a"b,c\n', '"a" ,c\n', "a,b\rc,d\n", ",\n", '"",""\n', "a,\x00\n"):
        assert prove(block, ",", 1 << 20) is None, block
    crlf = '"a\r\nb",c\r\nd,e\r\n'
    assert prove(crlf, ",", 1 << 20, eol="\n").data == b'"a\r\nb",c\nd,e\n'  # CRLF kept inside quotes only
    assert prove(crlf, ",", 1 << 20, eol="").data == crlf.encode() and prove(crlf, ",", 1 << 20, eol="").eol == "\r\n"
    assert prove('"a\nb",c\nd,e\r\n', ",", 1 << 20, eol="\r\n").data == b'"a\nb",c\r\nd,e\r\n'
    assert prove("a,b\n\\.\n", ",", 1 << 20, end_marker=True) is None and prove("a,b\n\\.\n", ",", 1 << 20)
    assert prove("a,b\nc\n", ",", 1 << 20, width=2) is None and prove("a,b\nc,d\n", ",", 1 << 20, width=2)


def _field(rng: random.Random) -> str:
    return rng.choice(["plain", "", "Zoë", 'say "hi"', "two\nlines", "cr\r\nlf", "a, b", "\n\nx\n", '"', "x" * 300])


def random_file(path: Path, rng: random.Random, rows: int, width: int) -> Path:
    """Random valid records: quoted where needed or everywhere, LF or CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"]),
                        quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer.writerow([f"h{i}" for i in range(width)])
    for index in range(rows):
        writer.writerow([f"r{index}", *(_field(rng) for _ in range(width - 1))])
    path.write_bytes(out.getvalue().encode("utf-8"))
    return path


@BACKENDS
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_shapes_over_several_blocks_load_the_general_readers_rows(backend, tmp_path, seed, caplog):
    rng = random.Random(seed)
    path = random_file(tmp_path / "random.csv", rng, rows=30_000, width=rng.randint(2, 6))  # records cross blocks
    assert path.stat().st_size > 1 << 20  # more than a block
    rows, said = load(backend, path, caplog)
    assert rows == reader_rows(path)
    assert read_itself(backend, said) and BY_LINE not in said, said


def _copied_rows(path: Path, block_chars: int) -> list[tuple]:
    """The rows COPY would read from `copy_blocks`' text (parsed here as CSV: the proof says COPY parses alike)."""
    text = "".join(b if isinstance(b, str) else b.decode("utf-8") for b, _, _ in copy_blocks(
        RawFile(path, sniff(path)), block_chars=block_chars))
    return [tuple(v or None for v in row) for row in csv.reader(io.StringIO(text, newline=""), strict=True)]


@pytest.mark.parametrize("seed", range(6))
def test_blocks_of_any_size_hand_on_the_general_readers_records(tmp_path, seed):
    """Small blocks cut records, lines and UTF-8 characters anywhere; stray quotes send a block line by line."""
    rng = random.Random(seed)
    path = random_file(tmp_path / "random.csv", rng, rows=300, width=rng.randint(1, 5))
    text = path.read_text(encoding="utf-8")
    if seed % 2:
        text = text.replace("\nr7,", '\nr"7,', 1)  # a stray quote in an unquoted field
    path.write_bytes(("\ufeff" if seed % 3 == 0 else "").encode() + text.encode("utf-8"))
    want = reader_rows(path)
    for block_chars in (7, 64, 1000, 1 << 20):
        assert _copied_rows(path, block_chars) == want, block_chars
        assert sum(native_counts(RawFile(path, sniff(path)), block_chars=block_chars)) == len(want), block_chars


def test_a_bad_byte_far_into_the_file_stops_the_fast_path(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n" + b'"x\xc3\xa9","y"\n' * 200_000 + b"\xff,z\n" + b"c,d\n")
    for fast in (lambda raw: list(copy_blocks(raw)), lambda raw: list(native_counts(raw))):
        with pytest.raises(NotSimple, match="UnicodeDecodeError"):
            fast(RawFile(path, sniff(path)))


@BACKENDS
def test_a_file_of_several_blocks_with_cr_only_line_ends_loads_the_readers_rows(backend, tmp_path, caplog):
    path = write(tmp_path, HEADER + "\r" + "".join(f'n{i},{i},"Ely\rCity",x\r' for i in range(70_000)))
    assert path.stat().st_size > 1 << 20
    rows, said = load(backend, path, caplog)
    assert rows == reader_rows(path) and len(rows) == 70_000, said
