"""The Companies House multi-part download: the same snapshot as the single file, in parts.

Companies House publishes each monthly snapshot as one file
(`BasicCompanyDataAsOneFile-2026-11-01.zip`) and as seven parts
(`BasicCompanyData-2026-11-01-part1_7.zip` ... `part7_7.zip`), each part a CSV of its own
with the header line. `write_companies_house_parts` splits the rows `write_companies_house`
writes for the same `rows` and `seed` into `parts` files, in order, so the parts together
hold exactly the rows of the single file.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from monitor.demo.companies_house import companies_house_rows, write_ch_rows

PARTS = 7


def part_name(snapshot: str, part: int, parts: int = PARTS, *, zipped: bool = True) -> str:
    """`BasicCompanyData-2026-11-01-part3_7.zip` (or `.csv`)."""
    return f"BasicCompanyData-{snapshot}-part{part}_{parts}.{'zip' if zipped else 'csv'}"


def one_file_name(snapshot: str, *, zipped: bool = True) -> str:
    """`BasicCompanyDataAsOneFile-2026-11-01.zip` (or `.csv`)."""
    return f"BasicCompanyDataAsOneFile-{snapshot}.{'zip' if zipped else 'csv'}"


def write_companies_house_parts(folder: str | Path, snapshot: str, rows: int, seed: int = 0, *,
                                parts: int = PARTS, zipped: bool = True) -> list[Path]:
    """Write the snapshot `snapshot` (`YYYY-MM-DD`) of `rows` rows as `parts` files in `folder`
    (as evenly split as the count allows, part 1 first); return their paths in part order."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = companies_house_rows(rows, seed)
    paths = []
    for index in range(parts):
        share = rows // parts + (1 if index < rows % parts else 0)
        path = folder / part_name(snapshot, index + 1, parts, zipped=zipped)
        paths.append(write_ch_rows(path, itertools.islice(data, share), zipped=zipped))
    return paths
