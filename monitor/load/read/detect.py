"""How to read a dropped file, worked out from its first megabyte: encoding, delimiter,
header, an Excel `sep=` line, and whether it is text at all."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

from monitor.config import Limits
from monitor.source import (
    DEFAULT_LIMITS,
    EncodingError,
    SourceError,
    SourceFormat,
    compression_of,
    open_binary,
    read_chunk,
    size_text,
)

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
CONTROL_SHARE = 0.01  # more control characters than this in the sample: binary, not text

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (or another OLE document)"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "an executable"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f]")  # not \x1a: the DOS end-of-file mark
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1b-\x1f]")


def _bomless_utf16(sample: bytes) -> str | None:
    even, odd = sample[0::2], sample[1::2]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
        return "utf-16-be"
    return None


def detect_encoding(sample: bytes, configured: str = "auto") -> str:
    """The codec to read with: a byte-order mark wins, then the configured one,
    then UTF-16 without a BOM (every other byte NUL), then UTF-8 when the sample
    decodes as UTF-8, else Windows-1252."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if configured != "auto":
        return configured
    wide = _bomless_utf16(sample)
    if wide:
        return wide
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not merely a character cut by the sample's end
            return "cp1252"
    return "utf-8"


def detect_delimiter(text: str, records: int = 20) -> str:
    """The delimiter of a CSV text (its header first): among `,` `;` tab `|` found in the
    header outside quotes, the one that occurs as often in each of the next records (up
    to `records`), then the most frequent; `,` when the header holds none of them."""
    found: list[dict[str, int]] = []
    counts, quoted, length = dict.fromkeys(DELIMITERS, 0), False, 0
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            if length:
                found.append(counts)
                if len(found) > records:
                    break
            counts, length = dict.fromkeys(DELIMITERS, 0), 0
            continue
        elif not quoted and char in counts:
            counts[char] += 1
        length += 1
    if length and len(found) <= records:
        found.append(counts)
    if not found:
        return ","
    header, rows = found[0], found[1:]
    candidates = [d for d in DELIMITERS if header[d]]
    if not candidates:
        return ","
    return max(candidates, key=lambda d: (all(row[d] == header[d] for row in rows), header[d]))


def _wide(codec: str) -> bool:
    return codecs.lookup(codec).name.startswith(("utf-16", "utf-32"))


def _binary_kind(sample: bytes | str) -> str | None:
    """What a sample is if it is not text: a known binary format, NULs, or too many
    control characters (bytes for byte codecs, decoded text for UTF-16/32)."""
    if isinstance(sample, bytes):
        for magic, kind in _MAGIC:
            if sample.startswith(magic):
                return kind
        if b"\x00" in sample:
            return "binary content (NUL bytes)"
        controls = len(_CONTROL_BYTES.findall(sample))
    else:
        controls = len(_CONTROL.findall(sample))
    if controls > max(CONTROL_SHARE * len(sample), 3):
        return "binary content (control characters)"
    return None


def sniff(path: Path, *, encoding: str = "auto", delimiter: str | None = None, name: str | None = None,
          limits: Limits = DEFAULT_LIMITS) -> SourceFormat:
    """Work out how to read `path` from its first megabyte; `name` is the file's name in
    messages; `limits` go with the format to every reader of the file."""
    name = name or path.name
    kind = compression_of(path)
    with open_binary(path, name, limits) as stream:
        sample = read_chunk(stream, SAMPLE_BYTES, name)
        more = len(sample) == SAMPLE_BYTES and bool(read_chunk(stream, 1, name))
        member = getattr(stream, "name", None) if kind == "zip" else None
    if not sample.strip(b"\r\n\t \x00"):
        raise SourceError(f"{name}: the file is empty (no header line)")
    codec = detect_encoding(sample, encoding)
    try:
        wide = _wide(codec)
    except LookupError as exc:
        raise SourceError(f"{name}: unknown encoding {codec!r}") from exc
    binary = None if wide else _binary_kind(sample)
    if binary:
        raise SourceError(f"{name}: {binary}, not a CSV file")
    try:
        head = sample.decode(codec, errors="strict")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or len(sample) < SAMPLE_BYTES:
            raise EncodingError(
                f"{name}: line {_line_of(sample[: exc.start], codec)}, byte offset {exc.start}: not valid {codec} "
                f"(bytes {sample[exc.start : exc.end].hex(' ')}): {exc.reason}"
            ) from exc
        head = sample[: exc.start].decode(codec)
    head = head.lstrip("\ufeff")
    binary = _binary_kind(head) if wide else None
    if binary:
        raise SourceError(f"{name}: {binary}, not a CSV file")
    lines = io.StringIO(head, newline="").readlines()
    skip = 0
    first = lines[0].rstrip("\r\n") if lines else ""
    if first.lower().startswith("sep=") and len(first) == 5:  # Excel's delimiter hint line
        delimiter, skip = delimiter or first[4], 1
    sep = delimiter or detect_delimiter("".join(lines[skip : skip + 200]))
    reader = csv.reader(lines[skip:], delimiter=sep)
    header = next(reader, [])
    if more and reader.line_num + skip >= len(lines) and not lines[-1].endswith(("\n", "\r")):
        raise SourceError(f"{name}: line {skip + 1}: the header does not end within the first "
                          f"{size_text(SAMPLE_BYTES)}: not a CSV header")
    while header and not header[-1].strip():  # spreadsheet exports pad the header with empty names
        header.pop()
    if not header:
        raise SourceError(f"{name}: line {skip + 1}: the header is empty")
    detected = encoding == "auto" and codec in ("utf-8", "cp1252", "utf-16-le", "utf-16-be")
    return SourceFormat(kind, member, codec, sep, header, skip, detected, limits)


def _line_of(before: bytes, codec: str) -> int:
    text = before.decode(codec, errors="replace")
    return 1 + text.count("\n") + text.count("\r") - text.count("\r\n")

