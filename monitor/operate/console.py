"""The `ingest-monitor` console script: `monitor.cli.main` with a quick start and a quick exit.

It imports only what it needs before the command line is read: `ingest` hashes its files
in a thread (`monitor.hashing.hash_ahead`) while the rest of the program is imported.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

from monitor.intake.hashing import hash_ahead

VALUED_OPTIONS = ("--config", "--env-file")  # the top-level options that take a value


def ingest_paths(argv: Sequence[str]) -> list[Path]:
    """The files an `ingest` command line names (none for any other command)."""
    words: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in VALUED_OPTIONS:  # before or after the command
            next(args, None)
        elif not arg.startswith("-"):
            words.append(arg)
    return [Path(word) for word in words[1:]] if words[:1] == ["ingest"] else []


def console() -> NoReturn:
    """The `ingest-monitor` command. After `main`, every command has closed its database
    connections and files; what is left, the interpreter tearing down its modules (about
    a quarter of a second), is skipped. On an exception Python exits as usual."""
    hash_ahead(ingest_paths(sys.argv[1:]))
    from monitor.operate.cli import main

    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
