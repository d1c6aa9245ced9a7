"""The test suite is sealed: run from a folder whose `.env` (as the README suggests for
PostgreSQL) and environment point the daemon at someone's own database, the tests still pass
and that database is never written to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
from conftest import cli_env

ROOT = Path(__file__).resolve().parents[1]
# Tests that read settings in this process and run the CLI and the daemon as subprocesses.
INNER = ["tests/test_cli_commands.py::test_status_filters_by_target_status_and_time",
         "tests/test_types.py", "tests/test_reload.py::test_sighup_with_a_broken_configuration_is_refused_in_one_line"
         "_and_the_daemon_goes_on"]


def test_the_callers_env_file_and_variables_reach_no_test(pg_database, tmp_path):
    caller = tmp_path / "newcomer"
    caller.mkdir()
    (caller / ".env").write_text(f"INGEST_DATABASE_URL={pg_database}\nINGEST_INSTANCE=newcomer\n")
    env = cli_env(INGEST_DATABASE_URL=pg_database, INGEST_MONITOR_CONFIG=str(caller / "nowhere.json"),
                  INGEST_INSTANCE="newcomer", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                             *(str(ROOT / test) for test in INNER)],
                            cwd=caller, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1], result.stdout[-500:]
    with psycopg.connect(pg_database.replace("+psycopg", "")) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
    assert tables == [], "the caller's database was written to"
