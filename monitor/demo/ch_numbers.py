"""Company numbers for the Companies House sample: unique for every row count, shuffled, in
the real file's forms (SC/NI/OC and six digits, or eight digits)."""

import math
import random
from collections.abc import Iterator

# Company-number space. Tier 1 (the first 17M rows): SC/NI/OC + 6 digits and
# plain numbers 00100000..16099999, mixed by an affine permutation of the row
# index, so numbers are unique and look shuffled. Tier 2 (rows beyond that):
# plain numbers 16100000..99999999, again permuted. Both are bijections, and the
# two ranges are disjoint, so numbers are unique for every possible row count.
_PREFIXED = 1_000_000  # SC 0..599999, NI 600000..749999, OC 750000..999999
_TIER1_DIGITS_BASE = 100_000
_TIER1 = _PREFIXED + 16_000_000
_TIER2_BASE = _TIER1_DIGITS_BASE + 16_000_000
_TIER2 = 100_000_000 - _TIER2_BASE
MAX_ROWS = _TIER1 + _TIER2


def _coprime_step(rng: random.Random, modulus: int) -> int:
    step = int(modulus * 0.6180339887) + rng.randrange(1000)
    while math.gcd(step, modulus) != 1:
        step += 1
    return step


def number_params(rng: random.Random) -> tuple[int, int, int, int]:
    return (
        _coprime_step(rng, _TIER1), rng.randrange(_TIER1),
        _coprime_step(rng, _TIER2), rng.randrange(_TIER2),
    )  # fmt: skip


def company_numbers(params: tuple[int, int, int, int], start: int, stop: int) -> Iterator[str]:
    """Yield the company numbers of row indexes ``start``..``stop - 1`` (all unique)."""
    if not 0 <= start <= stop <= MAX_ROWS:
        raise ValueError(f"row indexes must lie within 0..{MAX_ROWS}")
    a1, b1, a2, b2 = params
    i = start
    end1 = min(stop, _TIER1)
    if i < end1:
        p = (a1 * i + b1) % _TIER1
        digits_offset = _TIER1_DIGITS_BASE - _PREFIXED
        for _ in range(end1 - i):
            if p >= _PREFIXED:
                yield f"{p + digits_offset:08d}"
            elif p < 600_000:
                yield f"SC{p:06d}"
            elif p < 750_000:
                yield f"NI{p - 600_000:06d}"
            else:
                yield f"OC{p - 750_000:06d}"
            p += a1
            if p >= _TIER1:
                p -= _TIER1
        i = end1
    if i < stop:
        q = (a2 * (i - _TIER1) + b2) % _TIER2
        for _ in range(stop - i):
            yield f"{q + _TIER2_BASE:08d}"
            q += a2
            if q >= _TIER2:
                q -= _TIER2
