"""Database backends behind one interface (`base.Backend`), one package per database, each
registering itself by the scheme of its URL (`registry`); `open_backend` opens one from a URL."""

from __future__ import annotations

from monitor.backends.base import Backend
from monitor.backends.registry import backend_class, dialect_names, open_backend, option_problems
from monitor.catalog import BKP_SCHEMA, REF_SCHEMA

__all__ = ["BKP_SCHEMA", "REF_SCHEMA", "Backend", "backend_class", "dialect_names", "open_backend",
           "option_problems"]
