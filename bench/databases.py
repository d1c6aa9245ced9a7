"""Scratch databases for one bench run: SQLite files in the work folder, PostgreSQL
databases created for the run (and dropped after it) on the server of `--pg-url`."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

from monitor.backends.sqlite.csv_reader import driver_module

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class PgServer:
    """A PostgreSQL server the bench may create databases on (the URL names an existing one)."""

    url: str

    @property
    def info(self) -> dict[str, str]:
        """Connection parameters of the admin URL (those it sets)."""
        return {key: str(value) for key, value in psycopg.conninfo.conninfo_to_dict(self.url).items()
                if value is not None}

    def dbname_url(self, dbname: str, driver: str = "postgresql+psycopg") -> str:
        """A SQLAlchemy URL for `dbname` on this server."""
        info = self.info
        host, port, user = info.get("host", "127.0.0.1"), info.get("port", "5432"), info.get("user", "postgres")
        password = f":{info['password']}" if info.get("password") else ""
        return f"{driver}://{user}{password}@{host}:{port}/{dbname}"

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        """An autocommit connection (to `dbname`, else the admin database)."""
        conninfo = psycopg.conninfo.make_conninfo(self.url, **({"dbname": dbname} if dbname else {}))
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)

    def version(self) -> str:
        """The server's version string."""
        with self.connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    @contextmanager
    def scratch(self) -> Iterator[str]:
        """A fresh database (its name), dropped afterwards."""
        name = f"im_bench_{uuid.uuid4().hex[:10]}"
        with self.connect() as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            with self.connect() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def count(self, dbname: str, table: str) -> int:
        """Rows in `table` (which may be schema-qualified, already quoted)."""
        with self.connect(dbname) as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def checkpoint(self) -> None:
        """Write out the server's dirty pages and start a fresh WAL stretch (`CHECKPOINT`), so a
        timed load pays for no earlier load's writes. Skipped where the role may not."""
        with suppress(psycopg.errors.InsufficientPrivilege), self.connect() as conn:
            conn.execute("CHECKPOINT")

    def execute(self, dbname: str, sql: str) -> None:
        """Run one statement in `dbname`."""
        with self.connect(dbname) as conn:
            conn.execute(sql)


def sqlite_count(path: Path, table: str) -> int:
    """Rows in a table of a SQLite file."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def sqlite_version() -> str:
    """The SQLite libraries in play: ingest-monitor's driver's, and the `sqlite3` module's
    (which pandas uses)."""
    driver = driver_module()
    if driver is sqlite3:
        return f"{sqlite3.sqlite_version} (Python's sqlite3: ingest-monitor and pandas)"
    return (f"{driver.sqlite_version} ({driver.__name__}: ingest-monitor), "
            f"{sqlite3.sqlite_version} (Python's sqlite3: pandas)")


def text_table_ddl(table: str, columns: list[str]) -> str:
    """CREATE TABLE with every column text: the table the references load into."""
    return f'CREATE TABLE {table} ({", ".join(f"{_q(c)} TEXT" for c in columns)})'


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
