"""ingest-monitor: watch folders for dropped CSV files and load each exactly once, audited.

A file's life runs through the sub-packages in order (see docs/architecture.md):
`intake` (watch, settle, hash) -> `load` (claim, read, plan, strategy, state) ->
`backends` (each database's DDL and bulk paths); `operate` (daemon, CLI, status page,
metrics, logs) drives them and reads the state. `config`, `catalog`, `source` and
`errors` are the vocabulary all of them share; `demo` makes sample data.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ingest-monitor")
except PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"
