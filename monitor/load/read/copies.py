"""Copy marks: the names browsers, file managers and mail clients give a second copy of a file.

`BasicCompanyData-2026-11-01-part1_3.zip` downloaded or copied again arrives as
`... part1_3 (1).zip` (Chrome, Edge, Firefox: `(1)`), `... part1_3 - Copy.zip` and
`... - Copy (2).zip` (Windows Explorer), `... part1_3 copy.zip`, `... copy 2.zip` and
`... part1_3 2.zip` (macOS Finder), `... part1_3 (copy).zip`, `(another copy)`, `(3rd copy)`
(GNOME Files), or `Copy of ...` (older Windows, Google Drive, mail clients). `originals`
lists the names such a name may be a copy of (marks taken off the name before its
extensions, nested marks too); `monitor.load.read.snapshots.part_of` takes the first that is a
part of a set, so a copy is that part (a duplicate, or refused), never a snapshot of its own.
"""

from __future__ import annotations

import re

_MARKS = re.compile(
    r"(?:\s?\(\d+\)"  # browsers: `name (1)`, Firefox's `name(1)`
    r"| - Copy(?: \(\d+\))?"  # Windows Explorer: `name - Copy`, `name - Copy (2)`
    r"| copy(?: \d+)?"  # macOS Finder: `name copy`, `name copy 2`
    r"| \d+"  # macOS Finder, a second download: `name 2`
    r"| \((?:copy|another copy|\d+(?:st|nd|rd|th) copy)\)"  # GNOME Files: `name (copy)`, `(3rd copy)`
    r")$",
    re.IGNORECASE,
)
_PREFIX = re.compile(r"^(?:Copy (?:\(\d+\) )?of )", re.IGNORECASE)  # `Copy of name`, `Copy (2) of name`
MAX_MARKS = 4  # marks on marks (`name - Copy - Copy (2)`) taken off at most this many times


def _stems(name: str) -> list[tuple[str, str]]:
    """`name` split into (stem, extensions) at each dot from the right (`a.csv.gz`: (`a.csv`,
    `.gz`), (`a`, `.csv.gz`)), and whole."""
    out = []
    index = len(name)
    while (index := name.rfind(".", 0, index)) > 0:
        out.append((name[:index], name[index:]))
    return [*out, (name, "")]


def originals(name: str) -> list[str]:
    """The names `name` may be a copy of, nearest first (none when it has no copy mark)."""
    found: list[str] = []
    for stem, extensions in _stems(name):
        base = stem
        for _ in range(MAX_MARKS):
            stripped = _PREFIX.sub("", _MARKS.sub("", base))
            if stripped == base or not stripped.strip():
                break
            base = stripped
            found.append(base + extensions)
    return list(dict.fromkeys(found))
