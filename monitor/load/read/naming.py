"""Column-name normalisation: any file header becomes a stable, valid SQL name.

Rules, applied in order (documented in the README):

1. trim white space and a byte-order mark; fold accents to ASCII (``É`` -> ``E``);
2. ``#`` becomes ``num``, ``%`` becomes ``pct``, ``&`` becomes ``and``;
3. camelCase and PascalCase words are split (``RegAddress`` -> ``reg_address``,
   ``SICCode`` -> ``sic_code``);
4. every run of other characters becomes one ``_``; lower case; no leading or
   trailing ``_``;
5. an empty result becomes ``column_<n>`` (its 1-based position); a leading digit
   gets a ``c_`` prefix; names the daemon reserves (``_load_id``) cannot occur
   because of rule 4; a name the database keeps for its own columns (PostgreSQL's
   ``xmin``, ``ctid``, ...: `NameRules.reserved`) gets ``c_`` too;
6. longer than 60 characters: cut and suffixed with a short hash of the original;
7. a name already taken gets ``_2``, ``_3``, ... in header order, its base cut so that
   the whole name stays within the database's identifier length (`NameRules.max_bytes`:
   63 bytes in PostgreSQL, which would otherwise cut it back into a name taken).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from monitor.backends import Backend

MAX_NAME_LENGTH = 60
LOAD_ID_COLUMN = "_load_id"
_SYMBOLS = {"#": " num ", "%": " pct ", "&": " and "}
_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class NameRules:
    """What a database accepts as a column name: at most `max_bytes` bytes (None: no
    practical limit), none of `reserved` (its own system columns)."""

    max_bytes: int | None = None
    reserved: frozenset[str] = frozenset()

    @classmethod
    def of(cls, backend: Backend) -> NameRules:
        """The rules a backend declares."""
        return cls(backend.max_identifier_bytes, backend.reserved_column_names)


def normalise_name(header: str, position: int, rules: NameRules = NameRules()) -> str:
    """Normalise one header name; `position` is 1-based and names empty headers."""
    text = header.strip().lstrip("\ufeff").strip()
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    text = _CAMEL_ACRONYM.sub(r"\1_\2", text)
    text = _CAMEL_LOWER_UPPER.sub(r"\1_\2", text)
    name = _NOT_WORD.sub("_", text.lower()).strip("_")
    if not name:
        return f"column_{position}"
    if name[0].isdigit() or name in rules.reserved:
        name = f"c_{name}"
    if len(name) > MAX_NAME_LENGTH:
        digest = hashlib.sha1(header.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        name = f"{name[: MAX_NAME_LENGTH - 9].rstrip('_')}_{digest}"
    return name


def normalise_header(headers: list[str], rules: NameRules = NameRules()) -> list[str]:
    """Normalise a whole header: names are unique, in the file's order, and within the
    database's identifier length."""
    taken: set[str] = set()
    names: list[str] = []
    for position, header in enumerate(headers, start=1):
        base = normalise_name(header, position, rules)
        name, suffix = base, 2
        while name in taken:
            tag = f"_{suffix}"
            room = (rules.max_bytes or len(base) + len(tag)) - len(tag)
            name = f"{base[:room].rstrip('_') or 'c'}{tag}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names
