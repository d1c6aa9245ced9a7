"""The second hostile-input round: limits of memory, disk, names and databases, and files
that look like an outage. Small files are written into the corpus (`committed`); big ones,
and names a checkout on another system may refuse, are written at test time (`generated`,
into a folder of the test's), never committed.

Each case is `put(folder, name, data, status, loaded, rejected, error, backends=...)`:
`data` is bytes, text, or a function writing the file at a path (big files, streamed);
`backends` overrides the expectation on one database (`{"postgresql": {"status": ...}}`).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from monitor.intake.folders import fit_name
from monitor.source import member_file_name

MIB = 1 << 20
ZIP_DATE = (2026, 1, 1, 0, 0, 0)
LONG_TABLE = "companies_house_basic_company_data_monthly_snapshot_full"  # 56 bytes
REFUSED = ["refused by the database", "3 tries; the database answers"]

FOLDERS: dict[str, dict[str, Any]] = {
    "poison": {"table": "poison_t", "mode": "append"},
    "cli_poison": {"table": "poison_t", "mode": "append"},
    "wide": {"table": "wide", "mode": "fullload", "reference": True, "min_row_share": 0},  # widths, not sizes
    "cli_wide": {"table": "wide", "mode": "fullload", "reference": True, "min_row_share": 0},
    "names": {"table": "names_t", "mode": "append"},
    "longtable": {"table": LONG_TABLE, "mode": "fullload", "reference": True},
    "limits": {"table": "limits_t", "mode": "append"},
    "fsnames": {"table": "fsnames_t", "mode": "append"},
    "sides": {"table": "sides_t", "mode": "append"},
    "fulldisk": {"table": "fulldisk_t", "mode": "append"},
}
# The corpus daemon's limits: the default record limit (memory is measured with it), and
# expansion caps small enough for a test (disk stays under them).
SETTINGS = {"limits": {"max_expansion_ratio": 20, "max_expanded_bytes": 8 * MIB, "max_zip_members": 50}}
FULL_DISK_BYTES = MIB  # the small file system `archive/fulldisk` is mounted on at first


Put = Callable[..., None]  # (folder, name, data, status, loaded, rejected, error, *, record, backends)
Expect = Callable[..., None]  # (name, folder, status, loaded, rejected, error): a record of no file of its own


def zipped(members: dict[str, bytes | str]) -> bytes:
    """A zip of small members, deflated, dated alike (the same bytes every run)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), data)
    return buffer.getvalue()


def _wide(columns: int, rows: list[str]) -> str:
    return ",".join(f"col_{i:04}" for i in range(columns)) + "\n" + "".join(rows)


def committed(put: Put) -> None:
    """Small files, written into tests/corpus."""
    # A database that refuses a statement while it answers (a trigger on the target raises an
    # error of the kind a lost connection raises; the test installs it): bounded tries, then failed.
    put("poison", "poison_statement.csv", "id,v\n1,poisoned\n", "failed", error=REFUSED,
        backends={"mssql": {"status": "loaded", "rows_loaded": 1, "error": []}})
    put("cli_poison", "poison_cli.csv", "id,v\n1,poisoned too\n", "failed", error=REFUSED,
        backends={"mssql": {"status": "loaded", "rows_loaded": 1, "error": []}})
    # Column limits: 2,000 columns in SQLite, 1,600 in PostgreSQL, 1,024 in SQL Server.
    limit = ["columns", "allows in a table"]
    put("wide", "wide_2100.csv", _wide(2100, [",".join(["v"] * 2100) + "\n"]), "failed", error=limit)
    fails_on_servers = {"postgresql": {"status": "failed", "rows_loaded": 0, "error": limit},
                        "mssql": {"status": "failed", "rows_loaded": 0, "error": limit}}
    put("wide", "wide_1700.csv", _wide(1700, [",".join(["v"] * 1700) + "\n"]), loaded=1, backends=fails_on_servers)
    put("cli_wide", "cli_wide_1700.csv", _wide(1700, [",".join(["w"] * 1700) + "\n"]), loaded=1,
        backends=fails_on_servers)
    put("wide", "wide_1100.csv", _wide(1100, [",".join(["v"] * 1100) + "\n"]), loaded=1,
        backends={"mssql": {"status": "failed", "rows_loaded": 0, "error": limit}})
    # A row PostgreSQL cannot store (its 8 kB page, even with every value moved out of line):
    # the rows are rejected, the row that fits loads; SQL Server refuses the width.
    big = ",".join(f"{i:020}" for i in range(1500)) + "\n"
    put("wide", "wide_rows_too_big.csv", _wide(1500, [big, big, "," * 1499 + "x\n", big]), loaded=4,
        backends={"postgresql": {"status": "loaded", "rows_loaded": 1, "rows_rejected": 3,
                                 "error": []},
                  "mssql": {"status": "failed", "rows_loaded": 0, "error": limit}})
    # Names the database keeps or cuts.
    put("names", "gis_bbox.csv", "id,xmin,ymin,xmax,ymax\n1,0.5,1.5,2.5,3.5\n", loaded=1)
    put("names", "pg_system_names.csv", "tableoid,xmin,cmin,xmax,cmax,ctid,oid\n1,2,3,4,5,6,7\n", loaded=1)
    long_name = "an extremely long column name that keeps going on and on for ever more"
    put("names", "long_repeated_names.csv", ",".join([long_name] * 150) + "\n" + ",".join(map(str, range(150)))
        + "\n", loaded=1, error=["warning: duplicate column names"])
    put("names", "keyword_names.csv", "select,from,where,order,group,table,user,_load_id,load_id\n"
        "1,2,3,4,5,6,7,8,9\n", loaded=1, error=["warning: duplicate column names"])
    put("names", "suffix_collisions.csv", "k,k,k_2,k_2,K 2\n1,2,3,4,5\n", loaded=1,
        error=["warning: duplicate column names"])
    put("longtable", "snapshot.csv", "id,v\n1,a\n", loaded=1,
        backends={"postgresql": {"status": "failed", "rows_loaded": 0,
                                 "error": ["too long for PostgreSQL", "allows 63"]},
                  "babelfish": {"status": "failed", "rows_loaded": 0,
                                "error": ["too long for SQL Server", "allows 63"]}})
    members: dict[str, bytes | str] = {f"part{i:02}.csv": f"id,v\n{i},member\n" for i in range(60)}
    put("limits", "many_members.zip", zipped(members), "failed", error=["holds 60 entries", "max_zip_members"])
    # Side files never destroy files: a user's file named like the daemon's side files.
    put("sides", "report.csv", "id,v\n1,a\n2\n", loaded=1, rejected=1)
    put("sides", "report.csv.rejects.csv", "line,column,reason,raw\n9,,the user's own file,keep me\n", loaded=1)
    put("sides", "bad.csv", b"\x00\x01\x02" * 50, "failed", error=["binary content"])
    put("sides", "bad.csv.error.txt", ",,\n1,2,3\n", "failed", error=["the header is empty"])


def _repeat(head: bytes, block: bytes, total: int, tail: bytes = b"") -> Iterable[bytes]:
    yield head
    for _ in range(total // len(block)):
        yield block
    yield tail


def _plain(parts: Callable[[], Iterable[bytes]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as out:
            for part in parts():
                out.write(part)
    return write


def _gzip(parts: Callable[[], Iterable[bytes]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as out:
            for part in parts():
                out.write(part)
    return write


def _zip(members: dict[str, Callable[[], Iterable[bytes]]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name, parts in members.items():
                info = zipfile.ZipInfo(name, ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=True) as out:
                    for part in parts():
                        out.write(part)
    return write


def _random_rows(total: int) -> Iterable[bytes]:
    rng = random.Random(18)
    yield b"id,v\n"
    written = 0
    while written < total:
        block = "".join(f"{rng.randrange(10**9)},{rng.randrange(10**12)}\n" for _ in range(20_000)).encode()
        written += len(block)
        yield block


def generated(put: Put, expect: Expect) -> None:
    """Big files and odd names, written at test time."""
    record = ["a record longer than 4,194,304 characters", "limits.max_record_chars"]
    lines = ["a quoted field of the record starting on this line is not closed within 10,000 lines",
             "limits.max_record_lines"]
    line = b"x" * MIB
    put("limits", "line_300mb.csv", _plain(lambda: _repeat(b"id,v\n1,", line, 300 * MIB, b"\n2,ok\n")), "failed",
        error=["line 2", *record])
    put("limits", "line_bomb.csv.gz", _gzip(lambda: _repeat(b"id,v\n1,", line, 1024 * MIB, b"\n")), "failed",
        error=["line 2", *record])
    put("limits", "line_bomb.zip", _zip({"data.csv": lambda: _repeat(b"id,v\n1,", line, 1024 * MIB, b"\n")}),
        "failed", error=["line 2", *record])
    smiles = "😀".encode() * (MIB // 4)
    put("limits", "emoji_line.csv", _plain(lambda: _repeat(b"id,v\n1,", smiles, 16 * MIB, b"\n")), "failed",
        error=["line 2", *record])
    put("limits", "quoted_forever.csv", _plain(lambda: _repeat(b'id,v\n1,"', b"a short line\n" * 80_000,
                                                               40 * MIB, b'"\n')), "failed",
        error=["line 2", *lines])
    put("limits", "unterminated_early.csv", _plain(lambda: _repeat(b'id,v\n1,"never closed\n', b"2,v\n" * 250_000,
                                                                   30 * MIB)), "failed", error=["line 2", *lines])
    put("limits", "header_2mb.csv", _plain(lambda: [",".join(f"h{i}" for i in range(300_000)).encode(), b"\n1\n"]),
        "failed", error=["header does not end within the first 1 MiB"])
    put("limits", "near_limit.csv", _plain(lambda: [b"id,v\n1,", b"y" * (MIB - 100), b"\n2,ok\n"]), loaded=2)
    put("limits", "rows_bomb.csv.gz", _gzip(lambda: _repeat(b"id,v\n", b"1,a\n" * (MIB // 4), 256 * MIB)),
        "failed", error=["expands to more than 20 times its compressed size", "limits.max_expansion_ratio"])
    put("limits", "big_rows.csv.gz", _gzip(lambda: _random_rows(12 * MIB)), "failed",
        error=["expands to more than 8 MiB", "limits.max_expanded_bytes"])
    put("limits", "members_bomb.zip", _zip({"ok.csv": lambda: [b"id,v\n1,ok\n"],
                                            "huge.csv": lambda: _repeat(b"id,v\n", b"1,a\n" * (MIB // 4),
                                                                        1024 * MIB)}),
        "failed", error=["member huge.csv", "expands to more than 8 MiB"])
    header = "Email,Phone,Employees,Revenue,Joined,Active,Seen At\n"
    put("typed", "typed_long_line.csv", _plain(lambda: [header.encode(), b"a@x.io,1,2,3,01/01/2024,y,\n",
                                                        b"b@x.io,", b"9" * (5 * MIB), b",1,2,01/01/2024,y,\n"]),
        "failed", error=["line 3", *record])
    put("limits", "utf16_long_line.csv", _plain(lambda: ["id,v\n1,".encode("utf-16"), "z".encode("utf-16-le") *
                                                         (5 * MIB), "\n".encode("utf-16-le")]),
        "failed", error=["line 2", *record])
    # Names the file system refuses: every name the daemon makes from them fits 255 bytes.
    put("fsnames", "a" * 246 + ".csv", "id,v\n1,a\n2\n", loaded=1, rejected=1)
    put("fsnames", "b" * 251 + ".csv", b"\x00\x01" * 100, "failed", error=["binary content"])
    put("fsnames", "é" * 123 + ".csv", "id,v\n1,é\n", loaded=1)
    put("fsnames", "c" * 240 + "_one.csv", "id,v\n1,one\n", loaded=1)
    put("fsnames", "c" * 240 + "_two.csv", "id,v\n2,two\n", loaded=1)
    archive = "z" * 200 + ".zip"
    parts: dict[str, bytes | str] = {"m" * 100 + "_1.csv": "id,v\n1,m1\n", "m" * 100 + "_2.csv": "id,v\n2,m2\n3\n"}
    put("fsnames", archive, zipped(parts), record=False)
    expect(fit_name(member_file_name(archive, "m" * 100 + "_1.csv")), "fsnames", "loaded", 1, 0)
    expect(fit_name(member_file_name(archive, "m" * 100 + "_2.csv")), "fsnames", "loaded", 1, 1)
    put("fsnames", os.fsdecode(b"caf\xe9 latin1.csv"), "id,v\n1,renamed\n", record=False)
    expect("café latin1.csv", "fsnames", "loaded", 1, 0)
    # A full archive: every load commits; the moves wait for space, then finish.
    for index in range(4):
        rows = b"".join(b"%06d,%d%s\n" % (i, index, b"d" * 60) for i in range(6_000))
        put("fulldisk", f"fill_{index}.csv", b"id,v\n" + rows, loaded=6_000)


def write_generated(into: Path) -> list[tuple[str, Path]]:
    """Write the generated cases into `into/<folder>/<name>`; (folder, path) of each."""
    written: list[tuple[str, Path]] = []

    def put(folder: str, name: str, data: bytes | str | Callable[[Path], None], *_: Any, **__: Any) -> None:
        path = into / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(data):
            data(path)
        else:
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        written.append((folder, path))

    generated(put, lambda *_, **__: None)
    return written


__all__ = ["FOLDERS", "FULL_DISK_BYTES", "LONG_TABLE", "SETTINGS", "ZIP_DATE", "committed", "generated",
           "write_generated", "zipped"]
