"""Each database's backend is found by its URL's scheme and reads its own settings: every
package registers itself, and a setting that does not hold is named by its key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from monitor.backends import backend_class, dialect_names, open_backend, option_problems
from monitor.config import ConfigError


def test_every_backend_registers_its_scheme_and_its_aliases():
    assert dialect_names() == ("mssql", "postgresql", "sqlite")
    for name in dialect_names():
        assert backend_class(name).name == name
    assert backend_class("postgres") is backend_class("postgresql")
    with pytest.raises(ValueError, match="unsupported database URL scheme 'oracle'"):
        backend_class("oracle")


def test_a_backend_opens_with_its_own_settings(tmp_path):
    backend = open_backend(f"sqlite:///{tmp_path / 'a.db'}", {"sqlite": {"driver": "sqlite3"}})
    assert backend.engine.dialect.dbapi is not None and backend.engine.dialect.dbapi.__name__ == "sqlite3"
    backend.dispose()
    limited = open_backend(f"sqlite:///{tmp_path / 'b.db'}", {"sqlite": {"heap_limit_mb": 8}})
    with limited.engine.connect() as conn:  # SQLite's memory bounded for the whole process
        assert conn.exec_driver_sql("PRAGMA soft_heap_limit").scalar() == 8 << 20
    limited.dispose()
    pg = open_backend("postgres://loader@127.0.0.1/none", {"postgresql": {"split_connections": 3}})
    assert (pg.engine.url.drivername, pg.split_connections) == ("postgresql+psycopg", 3)
    pg.dispose()


def test_a_setting_that_does_not_hold_is_named_by_its_key(tmp_path):
    with pytest.raises(ConfigError, match=r"backend\.sqlite\.driver: Input should be 'sqlean' or 'sqlite3'"):
        open_backend(f"sqlite:///{tmp_path / 'a.db'}", {"sqlite": {"driver": "oracle"}})
    assert option_problems({"sqlite": {"driver": "sqlite3"}, "mssql": {"bcp": True}}) == []
    problems = option_problems({"postgresql": {"split_connections": 0}, "oracle": {}})
    assert problems[0].startswith("backend.postgresql.split_connections: ")
    assert problems[1] == "backend.oracle: not a database (one of: mssql, postgresql, sqlite)"


def test_a_daemon_imports_its_own_database_only_and_numpy_with_its_first_file(tmp_path):
    """A fresh interpreter runs the daemon's start on SQLite: no other database's driver, and no
    numpy until a file's blocks are proven (a stream-only daemon stays small)."""
    script = f"""
import sys
from monitor.operate.cli import parser
from monitor.backends import open_backend
from monitor.load import setup
parser()
backend = open_backend("sqlite:///{tmp_path / 'a.db'}")
setup.init_db(backend)
print(sorted(m for m in ("psycopg", "pyodbc", "mssql_python", "numpy") if m in sys.modules))
from monitor.backends.rawfile.proof import prove
assert prove("a,b\\n1,2\\n", ",", 1000) is not None
print("numpy" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"], done.stdout + done.stderr
