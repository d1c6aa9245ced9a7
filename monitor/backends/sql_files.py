"""`python -m monitor.backends.sql_files --write`: regenerate the SQL shipped in `sql/<dialect>/`
(`schema.sql`, the daemon's tables, and `views.sql`, the operator views) from the code that
creates them, for every dialect; without `--write`, print one dialect's."""

from __future__ import annotations

import argparse
from pathlib import Path

from monitor.backends import backend_class, dialect_names
from monitor.backends.ddl import render_schema
from monitor.backends.views import ViewSql, render_views

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"


def sql_for(dialect: str) -> ViewSql:
    """The view forms of a dialect (`sqlite`, `postgresql`, `mssql`): its backend's."""
    return backend_class(dialect).view_sql


def main(argv: list[str] | None = None) -> int:
    """Print one dialect's schema and views, or rewrite every `sql/<dialect>/` file."""
    args = argparse.ArgumentParser(prog="python -m monitor.backends.sql_files", description=main.__doc__)
    args.add_argument("--dialect", choices=dialect_names(), default="mssql")
    args.add_argument("--write", action="store_true", help="write sql/<dialect>/{schema,views}.sql for every dialect")
    parsed = args.parse_args(argv)
    if not parsed.write:
        print(render_schema(parsed.dialect) + render_views(sql_for(parsed.dialect), parsed.dialect), end="")
        return 0
    for dialect in dialect_names():
        folder = SQL_ROOT / sql_for(dialect).folder
        (folder / "schema.sql").write_text(render_schema(dialect), encoding="utf-8")
        (folder / "views.sql").write_text(render_views(sql_for(dialect), dialect), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
