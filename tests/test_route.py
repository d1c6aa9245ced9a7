"""Which way a file's rows travel (`monitor.load.write.route`), in-process, per file shape and per
database: the backend reading the file itself where it may, the general reader where it must,
each logged with its reason, and the same rows in the table either way."""

from __future__ import annotations

import logging

import pytest

from monitor.backends.target import Target
from monitor.load.read.detect import sniff
from monitor.load.read.records import iter_batches
from monitor.load.write.route import CAREFUL, GENERAL, RowSource, offer, write_rows

HEADER = "name,number,city,note\r\n"
SHAPES = {
    "quoted": HEADER + '"a","1","London","x"\r\n"b","2","Leeds","y"\r\n',
    "plain": HEADER + "a,1,London,x\nb,2,Leeds,y\n",
    "line breaks and escaped quotes": HEADER + '"multi\r\nline","1","York","say ""hi"""\r\nb,2,Bath,\r\n',
    "a blank record inside": HEADER + "a,1,London,x\r\n,,,\r\nb,2,Leeds,y\r\n",
    "windows-1252": HEADER + "Zoë,1,Köln,x\r\nb,2,Leeds,y\r\n",
    "a record of another width": HEADER + "a,1,London,x\r\nb,2,Leeds\r\nc,3,Ely,z\r\n",
}
# How each backend that reads files takes each shape: by itself (its words), or not.
EXPECTED = {
    "sqlite": {"quoted": "read by SQLite's CSV reader", "plain": "read by SQLite's CSV reader",
               "line breaks and escaped quotes": "read by SQLite's CSV reader",
               "a blank record inside": "reading the file in Python (a blank record",
               "windows-1252": "reading the file in Python (not plain UTF-8",
               "a record of another width": GENERAL + " (a record has 3 fields, the header 4)"},
    "postgresql": {"quoted": "read by COPY from its lines", "plain": "read by COPY from its lines",
                   "line breaks and escaped quotes": "read by COPY from its lines",
                   "a blank record inside": "read by COPY from its lines",
                   "windows-1252": "read by COPY from its lines",
                   "a record of another width": GENERAL + ' (missing data for column "note")'},  # said by COPY
}


def write(tmp_path, shape: str):
    path = tmp_path / "shape.csv"
    path.write_bytes(SHAPES[shape].encode("cp1252" if shape == "windows-1252" else "utf-8"))
    return path, sniff(path)


def ignore(rows: int) -> None:
    """Progress is not watched here."""


def load(backend, path, fmt, *, shaped: bool = False) -> tuple[int, list[tuple]]:
    """Write the file's rows into a new table the way a run does; (rows written, the table's rows)."""
    columns = ["name", "number", "city", "note"]
    raw, why_not = offer(path, fmt, shaped=shaped, null_values=[""], careful=False, on_rows=ignore)
    source = RowSource(path.name, lambda: (batch.rows for batch in iter_batches(path, fmt, 2)), raw, why_not)
    with backend.transaction() as conn:
        backend.create_table(conn, backend.default_schema, "shape", columns)
        fresh = Target(backend.default_schema, "shape", columns, 9, fresh=True)  # created in this transaction
        written = write_rows(conn, backend, fresh, source)
    with backend.reading() as conn:
        rows = conn.exec_driver_sql(f"SELECT name, number, city, note FROM {backend.qualified(None, 'shape')}")
        return written, sorted(tuple(row) for row in rows)


def reader_rows(path, fmt) -> list[tuple]:
    return sorted(tuple(v or None for v in row) for batch in iter_batches(path, fmt, 100) for row in batch.rows)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_takes_the_way_open_to_it_and_loads_what_the_reader_reads(backend, tmp_path, shape, caplog):
    path, fmt = write(tmp_path, shape)
    with caplog.at_level(logging.DEBUG, logger="monitor.route"):
        written, rows = load(backend, path, fmt)
    assert rows == reader_rows(path, fmt) and written == len(rows)
    said = [record.getMessage() for record in caplog.records if record.name == "monitor.route"]
    parsed = f"{GENERAL} (the {backend.name} backend does not read files itself)"
    way = EXPECTED.get(backend.name, {}).get(shape, parsed)
    assert len(said) == 1 and way in said[0], said


def test_a_backend_that_does_not_read_files_gets_the_parsed_batches(backend, tmp_path, caplog):
    path, fmt = write(tmp_path, "quoted")
    backend.reads_files = False  # this instance only
    with caplog.at_level(logging.DEBUG, logger="monitor.route"):
        written, rows = load(backend, path, fmt)
    assert written == 2 and rows == reader_rows(path, fmt)
    assert f"{GENERAL} (the {backend.name} backend does not read files itself)" in caplog.text


def test_shaped_records_and_careful_mode_never_offer_the_file(backend, tmp_path, caplog):
    path, fmt = write(tmp_path, "quoted")
    with caplog.at_level(logging.DEBUG, logger="monitor.route"):
        load(backend, path, fmt, shaped=True)
    assert f"{GENERAL} (its records are shaped before loading" in caplog.text
    assert offer(path, fmt, shaped=False, null_values=["", "NULL"], careful=False, on_rows=ignore)[0] is None
    raw, why = offer(path, fmt, shaped=False, null_values=[""], careful=True, on_rows=ignore)
    assert raw is None and why == "isolating the rows the database refuses"
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="monitor.route"), backend.transaction() as conn:
        backend.create_table(conn, backend.default_schema, "careful", ["name", "number", "city", "note"])
        target = Target(backend.default_schema, "careful", ["name", "number", "city", "note"], 9)
        source = RowSource(path.name, lambda: [], None, why, isolate=lambda conn, target, batches: 0)
        assert write_rows(conn, backend, target, source) == 0
    assert CAREFUL in caplog.text
