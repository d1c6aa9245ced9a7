"""Declared column types: parse a CSV value in Python, hand the database a canonical text.

A folder rule declares types per column (`columns` in the config), keyed by the
normalised column name or the raw header:

    "columns": {"incorporation_date": {"type": "date", "format": "%d/%m/%Y"},
                "employees": "integer", "Annual Revenue": "decimal"}

Only declared columns are converted; every other column stays text exactly as in
the file (leading zeros, `+44 ...` phone numbers). A converted value is written as
the canonical text every backend parses the same way (`1200`, `1200.50`,
`2026-11-01`, `2026-11-01 09:30:00`, `1`/`0`); a null token (`null_values`) or an
empty value in a typed column becomes NULL; a value that does not convert rejects
the record, naming the column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from monitor.config import KINDS, ColumnSpec, Kind
from monitor.load.read.naming import normalise_name
from monitor.load.read.records import RowError

__all__ = ["KINDS", "ColumnSpec", "Kind", "RowPlan", "column_types", "match_column", "resolve_specs"]
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE = frozenset({"false", "f", "no", "n", "0", "off"})
_GROUPED = r"(?:\d{1,3}(?:,\d{3})+|\d+)"  # 1200 or 1,200
_INTEGER = re.compile(rf"([+-]?{_GROUPED})(?:\.0*)?")
_DECIMAL = re.compile(rf"[+-]?(?:{_GROUPED}(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def to_integer(text: str, _fmt: str | None = None) -> str:
    """`1,200` -> `1200`; a whole number within 64 bits (`12.0` allowed)."""
    match = _INTEGER.fullmatch(text.strip())
    if not match:
        raise ValueError("not a whole number")
    number = int(match.group(1).replace(",", ""))
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError("out of the 64-bit integer range")
    return str(number)


def to_decimal(text: str, _fmt: str | None = None) -> str:
    """`1,200.50` -> `1200.50`; scientific notation allowed, NaN and infinity not."""
    clean = text.strip()
    if not _DECIMAL.fullmatch(clean):
        raise ValueError("not a decimal number")
    try:
        return format(Decimal(clean.replace(",", "")), "f")
    except InvalidOperation as exc:
        raise ValueError("not a decimal number") from exc


def to_date(text: str, fmt: str | None = None) -> str:
    """A date in `fmt` (default ISO `%Y-%m-%d`) -> `YYYY-MM-DD`."""
    return datetime.strptime(text.strip(), fmt or "%Y-%m-%d").date().isoformat()


def to_datetime(text: str, fmt: str | None = None) -> str:
    """A date and time in `fmt` (default: ISO 8601) -> `YYYY-MM-DD HH:MM:SS[.ffffff]`, in
    UTC when the value carries an offset."""
    value = datetime.strptime(text.strip(), fmt) if fmt else datetime.fromisoformat(text.strip())
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ")


def to_boolean(text: str, _fmt: str | None = None) -> str:
    """true/false, yes/no, y/n, t/f, 1/0, on/off (any case) -> `1` / `0`."""
    word = text.strip().lower()
    if word in TRUE:
        return "1"
    if word in FALSE:
        return "0"
    raise ValueError("not a yes/no value")


CONVERTERS: dict[str, Callable[[str, str | None], str]] = {
    "integer": to_integer, "decimal": to_decimal, "date": to_date, "datetime": to_datetime,
    "boolean": to_boolean,
}


def match_column(key: str, header: list[str], columns: list[str]) -> str | None:
    """The loaded column a configured name means: the column itself, its raw header, or
    any spelling that normalises to it (`Company Number` -> `company_number`)."""
    if key in columns:
        return key
    for raw, column in zip(header, columns, strict=True):
        if raw.strip().lstrip("\ufeff").strip() == key:
            return column
    normal = normalise_name(key, 0)
    return normal if normal in columns else None


def resolve_specs(
    header: list[str], columns: list[str], specs: Mapping[str, ColumnSpec]
) -> dict[str, ColumnSpec]:
    """Declared specs keyed by the file's column names; columns the file lacks are skipped."""
    found: dict[str, ColumnSpec] = {}
    for key, spec in specs.items():
        column = match_column(key, header, columns)
        if column is not None:
            found[column] = spec
    return found


KEY_STEPS: dict[str, Callable[[str], str]] = {"trim": str.strip, "lower": str.lower, "upper": str.upper}


class RowPlan:
    """Turns one record into the row that is loaded: keeps the chosen fields, converts the
    typed ones, refuses empty keys and normalises the others (`key_normalise`: trim, lower,
    upper, in order). Raises `RowError` naming the column."""

    def __init__(
        self,
        columns: list[str],
        specs: Mapping[str, ColumnSpec],
        keys: list[str],
        null_values: list[str],
        keep: list[int] | None = None,
        normalise: Sequence[str] = (),
    ) -> None:
        self.keep = keep
        names = [columns[i] for i in keep] if keep is not None else columns
        self.nulls = frozenset(null_values)
        self.typed = [
            (index, name, spec.type, spec.format, CONVERTERS[spec.type])
            for index, name in enumerate(names)
            if (spec := specs.get(name)) is not None and spec.type != "text"
        ]
        self.keys = [(names.index(key), key) for key in keys if key in names]
        self.normalise = [KEY_STEPS[step] for step in normalise]

    @property
    def checks_keys_only(self) -> bool:
        """True when the plan only refuses empty keys (a record it keeps is loaded as read)."""
        return bool(self.keys) and self.keep is None and not self.typed and not self.normalise

    @property
    def needed(self) -> bool:
        """False when the plan would hand every record on unchanged."""
        return bool(self.keep is not None or self.typed or self.keys)

    def __call__(self, fields: list[str]) -> list[str]:
        if self.keep is not None:
            fields = [fields[i] for i in self.keep]
        for index, name in self.keys:
            value = fields[index]
            if value in self.nulls or not value.strip():
                raise RowError(name, f"empty key column {name}")
            for step in self.normalise:
                value = step(value)
            fields[index] = value
        for index, name, kind, fmt, convert in self.typed:
            value = fields[index]
            if value in self.nulls or not value.strip():
                fields[index] = None  # type: ignore[call-overload]  # NULL
                continue
            try:
                fields[index] = convert(value, fmt)
            except (ValueError, OverflowError) as exc:
                shown = value if len(value) <= 60 else value[:57] + "..."
                where = f" (format {fmt})" if fmt else ""
                why = f": {exc}" if str(exc).startswith("out of") else ""
                raise RowError(name, f"column {name}: {shown!r} is not a valid {kind}{where}{why}") from None
        return fields


def column_types(specs: Mapping[str, ColumnSpec]) -> dict[str, str]:
    """Column name -> type name, for creating the columns."""
    return {name: spec.type for name, spec in specs.items()}
