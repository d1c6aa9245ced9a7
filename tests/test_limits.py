"""The limits of one file, in process: what compressed content may expand to (in all, and
against its compressed size, while it streams), how long a record may be (the general
reader and every fast path alike, without holding the record whole), and how many entries
a zip may declare."""

from __future__ import annotations

import gzip
import io
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.backends.postgres.copy_text import copy_blocks
from monitor.backends.rawfile.scan import NotSimple
from monitor.backends.rawfile.split import row_batches
from monitor.backends.sqlite.csv_reader import native_counts
from monitor.backends.target import RawFile
from monitor.config import Limits
from monitor.load.read.detect import sniff
from monitor.load.read.records import iter_batches
from monitor.source import SourceError, extract_members, open_binary, zip_entries, zip_members

MIB = 1 << 20
SMALL = Limits(max_record_chars=4096, max_expanded_bytes=2 * MIB, max_expansion_ratio=20, max_zip_members=5)


def _gzip_of(path: Path, head: bytes, block: bytes, count: int) -> Path:
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(head)
        for _ in range(count):
            out.write(block)
    return path


def _read_all(path: Path, limits: Limits) -> int:
    total = 0
    with open_binary(path, limits=limits) as stream:
        while chunk := stream.read(1 << 16):
            total += len(chunk)
    return total


def test_a_compression_bomb_stops_at_its_ratio_while_it_streams(tmp_path):
    bomb = _gzip_of(tmp_path / "bomb.csv.gz", b"id,v\n", b"1,a\n" * 65536, 256)  # 64 MiB from about 64 KiB
    compressed = bomb.stat().st_size
    read = []
    with (pytest.raises(SourceError, match=r"expands to more than 20 times its compressed size .*max_expansion_ratio"),
          open_binary(bomb, limits=SMALL) as stream):
        while chunk := stream.read(1 << 16):
            read.append(len(chunk))
    assert sum(read) <= max(20 * compressed, MIB)  # nothing handed on past the limit


def test_the_expanded_size_is_capped_in_all_and_small_files_pass(tmp_path):
    plain = tmp_path / "rows.csv"
    plain.write_bytes(b"id,v\n" + b"".join(b"%d,%d\n" % (i, i * 7919 % 10007) for i in range(400_000)))
    packed = tmp_path / "rows.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(SourceError, match=r"expands to more than 2 MiB \(limits.max_expanded_bytes\)"):
        _read_all(packed, SMALL)
    tiny = _gzip_of(tmp_path / "tiny.csv.gz", b"id\n", b"0\n" * 1000, 100)  # 200 kB of one byte repeated
    assert _read_all(tiny, SMALL) == 3 + 200_000  # far past its ratio, but within the first MiB
    assert _read_all(plain, SMALL) == plain.stat().st_size  # a plain file is never counted


def _bomb_zip(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, (block, count) in members.items():
            info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as out:
                for _ in range(count):
                    out.write(block)
    return path


def test_extraction_stops_at_the_cap_and_leaves_nothing_behind(tmp_path):
    bomb = _bomb_zip(tmp_path / "bomb.zip", {"a.csv": (b"id\n1\n", 1), "b.csv": (b"0" * MIB, 512)})
    out = tmp_path / "out"
    with pytest.raises(SourceError, match=r"member b.csv: expands to more than 2 MiB"):
        extract_members(bomb, [("a.csv", out / "a.csv"), ("b.csv", out / "b.csv")], SMALL)
    assert sorted(p.name for p in out.iterdir()) == ["a.csv"]  # the member over the cap left no partial file
    # the cap counts every member: two of 1.5 MiB each pass one by one, not together
    pair = _bomb_zip(tmp_path / "pair.zip", {"a.csv": (b"7" * (MIB // 2), 3), "b.csv": (b"8" * (MIB // 2), 3)})
    roomy = SMALL.model_copy(update={"max_expansion_ratio": 10_000})
    with pytest.raises(SourceError, match=r"member b\.csv: expands to more than 2 MiB"):
        extract_members(pair, [("a.csv", tmp_path / "p" / "a.csv"), ("b.csv", tmp_path / "p" / "b.csv")], roomy)


def test_extraction_never_fills_the_disk_past_the_cap(tmp_path, small_disk):
    """On a 4 MiB file system, a member of 512 MiB stops at the 2 MiB cap, not at a full disk."""
    point = small_disk(tmp_path / "disk", 4 * MIB)
    bomb = _bomb_zip(tmp_path / "bomb.zip", {"b.csv": (b"0" * MIB, 512)})
    roomy = SMALL.model_copy(update={"max_expansion_ratio": 100_000})
    with pytest.raises(SourceError, match="expands to more than 2 MiB"):
        extract_members(bomb, [("b.csv", point / "b.csv")], roomy)
    assert list(point.iterdir()) == []


def test_a_zip_declaring_too_many_entries_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(8):
            archive.writestr(f"part{index}.csv", "id\n1\n")
    assert zip_entries(path) == 8
    with pytest.raises(SourceError, match=r"holds 8 entries, more than 5 \(limits.max_zip_members\)"):
        zip_members(path, SMALL)
    with pytest.raises(SourceError, match="holds 8 entries"):
        sniff(path, limits=SMALL)
    assert len(zip_members(path)) == 8  # the default allows it
    assert zip_entries(tmp_path / "many.zip") == 8 and zip_entries(_plain(tmp_path / "x.csv", "id\n")) is None


def _plain(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _general(path: Path, limits: Limits) -> int:
    fmt = sniff(path, limits=limits)
    return sum(len(batch.rows) for batch in iter_batches(path, fmt, 1000))


FAST_PATHS: dict[str, Callable[[RawFile], Iterator]] = {
    "postgres COPY text": copy_blocks,
    "sqlite check": native_counts,
    "split rows": lambda raw: row_batches(raw, 1000),
}


@pytest.mark.parametrize("text", [
    "id,v\n1,{x}\n2,b\n",                       # one long line
    'id,v\n1,"{lines}"\n2,b\n',                  # a quoted field over many short lines
    'id,v\n1,"never closed\n{rows}',             # a quote that swallows the rest of the file
    "id,v\n1,{x}",                               # a long last line without its line end
])
def test_a_record_over_the_limit_fails_the_file_in_every_reader(tmp_path, text):
    """(The general reader counts a record over several lines as it reads, 256 KiB at a time.)"""
    path = _plain(tmp_path / "long.csv", text.format(x="x" * 5000, lines="a\n" * 200_000, rows="2,v\n" * 100_000))
    with pytest.raises(SourceError, match=r"line 2: a record longer than 4,096 characters, or over more than 64 lines"):
        _general(path, SMALL)
    fmt = sniff(path, limits=SMALL)
    for name, fast in FAST_PATHS.items():
        with pytest.raises(NotSimple, match="longer than 4,096 characters"):
            list(fast(RawFile(path, fmt)))
        assert name  # every fast path hands the file to the general reader, which fails it


def test_records_at_the_limit_load_in_every_reader(tmp_path):
    """The limit is not stricter than it says: a line of exactly 4,096 characters (its line
    end apart) and a record over 64 lines load, fast or not."""
    line = "1," + "y" * 4094
    path = _plain(tmp_path / "near.csv", f"id,v\n{line}\r\n2,\"{'a' * 10}\n" + "b\n" * 62 + "c\"\n")
    assert _general(path, SMALL) == 2
    fmt = sniff(path, limits=SMALL)
    assert sum(len(rows) for rows in row_batches(RawFile(path, fmt), 1000)) == 2
    assert sum(native_counts(RawFile(path, fmt))) == 2
    assert sum(count for _, count, _ in copy_blocks(RawFile(path, fmt))) == 2


def test_a_header_that_does_not_end_in_the_first_mib_is_refused(tmp_path):
    path = _plain(tmp_path / "header.csv", ",".join(f"h{i}" for i in range(200_000)) + "\n1\n")
    with pytest.raises(SourceError, match="line 1: the header does not end within the first 1 MiB"):
        sniff(path)
    exact = _plain(tmp_path / "exact.csv", "h" * MIB)  # a header-only file of exactly the sample
    assert sniff(exact).header == ["h" * MIB]


@pytest.mark.parametrize("reader", ["general", *FAST_PATHS])
def test_a_line_of_64_mib_is_never_held_whole(tmp_path, reader):
    """What Python allocates while a line of 64 Mi characters is read under the default limit
    of 1 Mi stays a small multiple of the limit's text (4 MiB: this text takes 4 bytes a
    character), never the line's (256 MiB). The fast paths read blocks of 1 Mi characters."""
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("id,v\n1,")
        for _ in range(64):
            out.write("😀" * (MIB // 4))
        out.write("\n2,b\n")
    fmt = sniff(path)
    tracemalloc.start()
    try:
        with pytest.raises((SourceError, NotSimple)):
            if reader == "general":
                _general(path, fmt.limits)
            else:
                list(FAST_PATHS[reader](RawFile(path, fmt)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * MIB, f"{reader} held {peak / MIB:.0f} MiB"


def test_bounded_streams_read_like_the_stream_they_bound(tmp_path):
    data = b"".join(b"%d,row\n" % i for i in range(50_000))
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(data))
    with open_binary(path) as stream:
        assert stream.read(10) + stream.read() == data
    with open_binary(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        assert sum(1 for _ in text) == 50_000
