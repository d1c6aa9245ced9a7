"""Bench data: thin command line over `monitor.sample_data`.

    python -m bench.generate companies data/BasicCompanyData.csv --rows 500000 [--zip] [--seed 1]
    python -m bench.generate mixed data/BasicCompanyData-mixed.csv --rows 500000 [--zip]
    python -m bench.generate companies data/parts --rows 500000 --parts 7 [--zip] [--date 2026-11-01]
    python -m bench.generate enrichment data/contacts.csv --rows 100000
"""

from __future__ import annotations

import argparse
import csv
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from monitor.demo.ch_parts import write_companies_house_parts
from monitor.demo.companies_house import companies_house_rows, write_ch_rows, write_companies_house
from monitor.demo.enrichment import ENRICHMENT_HEADER, enrichment_rows, write_enrichment


def companies(path: Path, rows: int, seed: int = 0, *, zipped: bool = False) -> Path:
    """A Companies-House-shaped file (55 columns, every value quoted, CRLF), optionally zipped."""
    return write_companies_house(path, rows, seed, zipped=zipped)


def mixed_rows(rows: int, seed: int = 0) -> Iterator[list[str]]:
    """The Companies House rows, a third of them with a line break inside a quoted field (the
    first address line split over two lines) and one in twenty with `""` escapes in its name."""
    for index, row in enumerate(companies_house_rows(rows, seed)):
        if index % 3 == 1 and row[4]:
            row[4] = row[4].replace(" ", "\n", 1) if " " in row[4] else row[4] + "\nRear"
        if index % 20 == 7:
            row[0] = f'{row[0]} "THE {row[0].split()[0]}"'
        yield row


def mixed(path: Path, rows: int, seed: int = 0, *, zipped: bool = False) -> Path:
    """`companies`, shaped as `mixed_rows` says (as valid, as every CSV tool reads it)."""
    return write_ch_rows(path, mixed_rows(rows, seed), zipped=zipped)


def enrichment(path: Path, rows: int, seed: int = 0) -> Path:
    """An enrichment-export-shaped file (26 columns, quoted only where needed)."""
    return write_enrichment(path, rows, seed)


def enrichment_files(folder: Path, files: int, rows: int, seed: int = 0, prefix: str = "contacts") -> list[Path]:
    """`files` small enrichment files of `rows` rows each, all different (no duplicates)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = enrichment_rows(files * rows, seed)
    paths = []
    for index in range(files):
        path = folder / f"{prefix}-{index:05d}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(ENRICHMENT_HEADER)
            writer.writerows(itertools.islice(data, rows))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench.generate`."""
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["companies", "mixed", "enrichment"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zip", action="store_true", help="companies: write a .zip holding the CSV")
    parser.add_argument("--parts", type=int, help="companies: the multi-part download, this many parts in PATH")
    parser.add_argument("--date", default="2026-11-01", help="--parts: the snapshot date in the names")
    args = parser.parse_args(argv)
    args.path.parent.mkdir(parents=True, exist_ok=True)
    if args.kind == "companies" and args.parts:
        paths = write_companies_house_parts(args.path, args.date, args.rows, args.seed, parts=args.parts,
                                            zipped=args.zip)
        print(f"{args.path}: {len(paths)} parts ({paths[0].name} ...), {args.rows} rows in all")
        return 0
    if args.kind == "companies":
        path = companies(args.path, args.rows, args.seed, zipped=args.zip)
    elif args.kind == "mixed":
        path = mixed(args.path, args.rows, args.seed, zipped=args.zip)
    else:
        path = enrichment(args.path, args.rows, args.seed)
    print(f"{path}: {args.rows} rows, {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
