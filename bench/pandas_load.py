"""What most people write by hand: `pandas.read_csv(chunksize=...)` then `DataFrame.to_sql(...)`.

    python -m bench.pandas_load URL TABLE FILE [--chunksize N]

Appends every chunk to TABLE (created beforehand with text columns); values stay
text (`dtype=str`), empty values become NULL (pandas' default). pandas is a
bench-only dependency (`pip install -e .[bench]`), imported here only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def load(url: str, table: str, path: str, chunksize: int, fast_executemany: bool = False) -> int:
    """Load `path` into `table` chunk by chunk; the rows written. A SQL Server URL connects as
    ingest-monitor does (`monitor.backends.mssql.connect`: the port as FreeTDS reads it, the
    server version of any engine), `fast_executemany` as pyodbc's option."""
    import pandas as pd
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    options = {"fast_executemany": True} if fast_executemany else {}
    if url.startswith("mssql"):
        from monitor.backends.mssql.connect import mssql_engine

        engine = mssql_engine(make_url(url), **options)
    else:
        engine = create_engine(url, **options)
    total = 0
    try:
        with engine.begin() as conn:
            for chunk in pd.read_csv(path, chunksize=chunksize, dtype=str):
                chunk.to_sql(table, conn, if_exists="append", index=False)
                total += len(chunk)
    finally:
        engine.dispose()
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench.pandas_load`."""
    parser = argparse.ArgumentParser(prog="python -m bench.pandas_load", description=__doc__)
    parser.add_argument("url", help="SQLAlchemy URL")
    parser.add_argument("table")
    parser.add_argument("file")
    parser.add_argument("--chunksize", type=int, default=10_000)
    parser.add_argument("--fast-executemany", action="store_true", help="pyodbc's fast_executemany")
    args = parser.parse_args(argv)
    print(load(args.url, args.table, args.file, args.chunksize, args.fast_executemany))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
