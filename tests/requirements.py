"""What a test needs of the database it runs on, asked of the backend's declared capabilities
(as SQLAlchemy's test suite asks its requirements), never of the database's name.

`has(backend_or_url, "leases")` says whether the backend declares it; `requires(...)` skips the
test with the reason when it does not; `backend_of(url)` is the backend class of a test URL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import make_url

from monitor.backends import Backend, backend_class

Need = Callable[[type[Backend]], bool]

REQUIREMENTS: dict[str, tuple[Need, str]] = {
    "leases": (lambda cls: cls.supports_leases, "several processes sharing the work (leases)"),
    "reads_files": (lambda cls: cls.reads_files, "a backend that reads a file itself"),
    "parallel_fill": (lambda cls: cls.fills_in_parallel, "several connections filling one table"),
    "embedded": (lambda cls: cls.embedded, "a database inside the process, in files"),
    "server": (lambda cls: not cls.embedded, "a database server"),
    "typed_columns": (lambda cls: cls.checks_value_types, "columns that refuse a value of another type"),
    "text_folds_case": (lambda cls: cls.text_folds_case, "text compared without regard to case"),
    "reserved_column_names_refused": (lambda cls: cls.refuses_reserved_column_names,
                                      "a database that refuses its system column names"),
    "parsed_lines_fed": (lambda cls: cls.feeds_parsed_lines, "a file reader fed lines parsed in Python"),
}


def backend_of(target: Backend | type[Backend] | str) -> type[Backend]:
    """The backend class of a backend, a backend class or a test database URL."""
    if isinstance(target, str):
        return backend_class(make_url(target).get_backend_name())
    return target if isinstance(target, type) else type(target)


def has(target: Backend | type[Backend] | str, requirement: str) -> bool:
    """Whether the backend declares `requirement` (a key of `REQUIREMENTS`)."""
    need, _ = REQUIREMENTS[requirement]
    return need(backend_of(target))


def requires(target: Backend | type[Backend] | str, *requirements: str) -> None:
    """Skip the test, saying why, unless the backend declares every requirement."""
    for requirement in requirements:
        if not has(target, requirement):
            pytest.skip(f"needs {REQUIREMENTS[requirement][1]} (not {backend_of(target).label})")
