"""Each database's backend, found by the scheme of its URL (`sqlite`, `postgresql`, `mssql`).

Every backend package registers its class when imported (`register`); the class declares its
own settings (`options_model`, read from `backend.<name>` in the config), the driver a URL
naming none gets (`default_driver`), other spellings of its scheme (`url_aliases`) and how it
opens from a URL (`Backend.from_url`). `PACKAGES` says where each database's backend lives,
so that a daemon imports its own database's backend and driver only (SQLite's daemon never
loads psycopg); a scheme it does not name (an alias) imports them all to find its owner.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url

from monitor.backends.base import Backend
from monitor.config import ConfigError

PACKAGES = {"sqlite": "monitor.backends.sqlite", "postgresql": "monitor.backends.postgres",
            "mssql": "monitor.backends.mssql"}
PASSWORD_ENV = "INGEST_DATABASE_PASSWORD"
_BY_SCHEME: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Make `cls` the backend of its URL scheme (`cls.name`) and of its aliases."""
    for scheme in (cls.name, *cls.url_aliases):
        _BY_SCHEME[scheme] = cls
    return cls


def _import_all() -> None:
    for package in PACKAGES.values():
        importlib.import_module(package)


def backend_class(scheme: str) -> type[Backend]:
    """The backend of a URL scheme (`sqlite`, `postgresql`, `mssql`, ...), imported on demand."""
    if scheme not in _BY_SCHEME and scheme in PACKAGES:
        importlib.import_module(PACKAGES[scheme])
    if scheme not in _BY_SCHEME:
        _import_all()
    try:
        return _BY_SCHEME[scheme]
    except KeyError:
        raise ValueError(f"unsupported database URL scheme {scheme!r} "
                         f"(one of: {', '.join(dialect_names())})") from None


def dialect_names() -> tuple[str, ...]:
    """The name of every backend, sorted (none imported)."""
    return tuple(sorted(PACKAGES))


def _problems(name: str, error: ValidationError) -> list[str]:
    return [f"backend.{'.'.join([name, *(str(part) for part in item['loc'])])}: {item['msg']}"
            for item in error.errors()]


def options_for(cls: type[Backend], section: Mapping[str, Any] | None) -> BaseModel:
    """`cls`'s settings from the config's `backend` section (its defaults where it has none);
    a `ConfigError` naming each key that does not hold."""
    try:
        return cls.options_model.model_validate(dict((section or {}).get(cls.name) or {}))
    except ValidationError as exc:
        raise ConfigError("invalid backend settings:\n  " + "\n  ".join(_problems(cls.name, exc))) from exc


def option_problems(section: Mapping[str, Any]) -> list[str]:
    """Every problem of the config's `backend` section: a key that names no database, a
    database setting that does not hold (each as `backend.<database>.<key>: why`)."""
    problems = []
    for name, values in section.items():
        if name not in dialect_names():
            problems.append(f"backend.{name}: not a database (one of: {', '.join(dialect_names())})")
            continue
        try:
            backend_class(name).options_model.model_validate(dict(values or {}))
        except ValidationError as exc:
            problems.extend(_problems(name, exc))
    return problems


def open_backend(url: str, options: Mapping[str, Any] | None = None, *, pool_size: int = 16) -> Backend:
    """A backend for a SQLAlchemy URL (`sqlite:///...`, `postgresql+psycopg://...`,
    `mssql+pyodbc://...`, `mssql+mssqlpython://...`; a URL naming no driver gets its backend's
    `default_driver`). A URL with a user and no password takes it from `INGEST_DATABASE_PASSWORD`.
    `pool_size` connections are kept for a server database (half as many more on demand);
    `options` is the config's `backend` section, each database's own settings under its name."""
    parsed = make_url(url)
    cls = backend_class(parsed.get_backend_name())
    if "+" not in parsed.drivername and cls.default_driver:
        parsed = parsed.set(drivername=cls.default_driver)
    if parsed.username and parsed.password is None and os.environ.get(PASSWORD_ENV):
        parsed = parsed.set(password=os.environ[PASSWORD_ENV])
    backend = cls.from_url(parsed, options_for(cls, options), pool_size=pool_size)
    backend.shown_url = make_url(url).render_as_string(hide_password=True)  # as written, never the driver's form
    return backend
