"""`python -m monitor`: the `ingest-monitor` command, started and ended as the console script
is (`monitor.operate.console`: no interpreter teardown once the command has closed what it
opened; mssql-python can crash freeing its handles in that teardown, microsoft/mssql-python#341)."""

from monitor.operate.console import console

console()
