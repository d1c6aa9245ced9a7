"""Whether two file-name patterns (`fnmatch`: `*`, `?`, `[...]`, `[!...]`) can match the same
name: `check-config` warns about rules whose patterns overlap, since a file given to `ingest`
from outside the watched folders that several rules match is refused."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache

STAR = "*"
_SAMPLE = frozenset(string.printable)


@dataclass(frozen=True)
class _Chars:
    """One character a pattern token accepts: any (`?`), one of a set (`[...]`, `[!...]`) or one."""

    chars: frozenset[str] = frozenset()
    negated: bool = False
    any: bool = False

    def accepts(self, char: str) -> bool:
        return self.any or ((char in self.chars) != self.negated)


def _class(pattern: str, start: int) -> tuple[_Chars, int] | None:
    """The `[...]` at `start` as fnmatch reads it, and where it ends (None: a literal `[`)."""
    i = start + 1
    negated = i < len(pattern) and pattern[i] == "!"
    i += negated
    first = i
    while i < len(pattern) and (pattern[i] != "]" or i == first):
        i += 1
    if i >= len(pattern):
        return None
    body, chars = pattern[first:i], set[str]()
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            chars.update(chr(c) for c in range(ord(body[k]), ord(body[k + 2]) + 1))
            k += 3
        else:
            chars.add(body[k])
            k += 1
    return _Chars(frozenset(chars), negated), i + 1


def _tokens(pattern: str) -> tuple[str | _Chars, ...]:
    out: list[str | _Chars] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if not out or out[-1] != STAR:
                out.append(STAR)
            i += 1
            continue
        found = _class(pattern, i) if char == "[" else None
        if found is not None:
            out.append(found[0])
            i = found[1]
            continue
        out.append(_Chars(any=True) if char == "?" else _Chars(frozenset(char)))
        i += 1
    return tuple(out)


def _meet(a: _Chars, b: _Chars) -> bool:
    if a.any or b.any:
        return True
    return any(a.accepts(c) and b.accepts(c) for c in _SAMPLE | a.chars | b.chars)


def patterns_overlap(first: str, second: str) -> bool:
    """True when some file name matches both `fnmatch` patterns (`*.csv` and
    `BasicCompanyData*` do: `BasicCompanyData.csv`)."""
    a, b = _tokens(first), _tokens(second)

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == STAR:
            return meet(i + 1, j) or (j < len(b) and meet(i, j + 1))
        if j < len(b) and b[j] == STAR:
            return meet(i, j + 1) or (i < len(a) and meet(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        left, right = a[i], b[j]
        assert isinstance(left, _Chars) and isinstance(right, _Chars)
        return _meet(left, right) and meet(i + 1, j + 1)

    return meet(0, 0)
