"""Rows as one JSON text per statement (`OPENJSON`), in the form the engine reads.

What an engine's OPENJSON does with JSON escapes (`\\"`, `\\n`, `\\u0001`) is found once per
target by asking it (`MssqlStatements.json_probe`), and names its form:

- `ESCAPES`: it reads them (SQL Server). Every row travels as JSON except one holding a value
  wider than NVARCHAR(4000).
- `STAND_INS`: it hands them back unread (Babelfish 4.2 returns `a\\"b` for `a"b`). The
  characters JSON escapes (`"`, `\\`, U+0001 to U+001F) travel as private-use stand-ins
  (U+E000 to U+E021) and `TRANSLATE` puts them back in the statement, so quoted values and line
  breaks take the same path as plain ones. A row holding a stand-in character itself, U+0000,
  a character beyond the BMP or a value wider than NVARCHAR(4000) takes the row path.
- `PLAIN`: neither works; only rows that need no escape travel as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitor.backends.mssql.statements import TEXT_CHARS
from monitor.backends.mssql.statements import MssqlStatements as S

PROBE_VALUE = 'a"b\\c\nd\re\tf\x01g'  # a quote, a backslash, line breaks, a tab, a control character
ESCAPED = '"\\' + "".join(map(chr, range(1, 32)))  # what JSON escapes (U+0000 aside)
STAND_INS = "".join(chr(0xE000 + i) for i in range(len(ESCAPED)))
_ESCAPE_OF = {ch: json.dumps(ch)[1:-1] for ch in ESCAPED}
_STAND_IN_OF_ESCAPE = {escape: STAND_INS[i] for i, escape in enumerate(_ESCAPE_OF.values())}
_AN_ESCAPE = re.compile(r'\\(?:["\\bfnrt]|u00[01][0-9a-f])')
_NEEDS_ESCAPE_OR_ASTRAL = re.compile(r'["\\\x00-\x1f\U00010000-\U0010ffff]')
_NOT_AS_STAND_INS = re.compile(f"[\x00{STAND_INS[0]}-{STAND_INS[-1]}\U00010000-\U0010ffff]")


class JsonForm(StrEnum):
    """How an engine's OPENJSON reads the values of a JSON text (see the module docstring)."""

    ESCAPES = "escapes"
    STAND_INS = "stand-ins"
    PLAIN = "plain"


@dataclass(frozen=True)
class JsonBatch:
    """One statement's JSON text, and TRANSLATE's (stand-ins, characters) when it holds any."""

    text: str
    restore: tuple[str, str] | None = None


def json_ready(row: Sequence[str | None], form: JsonForm = JsonForm.PLAIN) -> bool:
    """Whether a row travels as JSON in `form` (PLAIN: every engine reads it as it is)."""
    values = [value for value in row if value]
    if any(len(value) > TEXT_CHARS // 2 and utf16_units(value) > TEXT_CHARS for value in values):
        return False
    if form is JsonForm.ESCAPES:
        return True
    found = (_NOT_AS_STAND_INS if form is JsonForm.STAND_INS else _NEEDS_ESCAPE_OR_ASTRAL).search("".join(values))
    return found is None


def json_text(rows: Sequence[Sequence[str | None]]) -> str:
    """Rows as one JSON array of arrays (null for NULL)."""
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def json_batch(rows: Sequence[Sequence[str | None]], form: JsonForm) -> JsonBatch:
    """Rows that are `json_ready` in `form` as one statement's JSON text; with STAND_INS,
    every escape in the text is replaced by its stand-in and TRANSLATE's arguments given."""
    text = json_text(rows)
    if form is not JsonForm.STAND_INS or "\\" not in text:
        return JsonBatch(text)
    used: set[str] = set()

    def stand_in(match: re.Match[str]) -> str:
        ch = _STAND_IN_OF_ESCAPE[match.group(0)]
        used.add(ch)
        return ch

    text = _AN_ESCAPE.sub(stand_in, text)
    order = sorted(used)
    return JsonBatch(text, ("".join(order), "".join(ESCAPED[STAND_INS.index(ch)] for ch in order)))


def utf16_units(value: str) -> int:
    """Length in UTF-16 code units, as NVARCHAR counts it."""
    return len(value) if value.isascii() else len(value.encode("utf-16-le")) // 2


def probe_json_form(dbapi_connection: Any) -> JsonForm:
    """Ask the engine which form its OPENJSON reads: the escapes, else the stand-ins put back by
    TRANSLATE, else neither (the probe's own transaction rolled back)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(S.json_probe(json_text([[PROBE_VALUE]])))
        if cursor.fetchone()[0] == PROBE_VALUE:
            return JsonForm.ESCAPES
        batch = json_batch([[PROBE_VALUE]], JsonForm.STAND_INS)
        try:
            cursor.execute(S.json_probe(batch.text, batch.restore))
            return JsonForm.STAND_INS if cursor.fetchone()[0] == PROBE_VALUE else JsonForm.PLAIN
        except Exception:  # the driver's own error class: no TRANSLATE here
            return JsonForm.PLAIN
    finally:
        cursor.close()
        with suppress(Exception):
            dbapi_connection.rollback()
