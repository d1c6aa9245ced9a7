"""SQLite's own settings (`backend.sqlite` in the config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SqliteOptions(BaseModel):
    """SQLite's own settings."""

    model_config = ConfigDict(extra="forbid")

    driver: Literal["sqlean", "sqlite3"] = Field(
        default="sqlean", description="sqlean (a current SQLite that reads CSV itself) or the standard sqlite3"
    )
    heap_limit_mb: int = Field(
        default=16, ge=4, description="SQLite's memory in this process, all connections together (a soft limit: "
        "page caches are reused past it rather than grown)"
    )
