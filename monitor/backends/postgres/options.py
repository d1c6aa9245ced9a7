"""PostgreSQL's own settings (`backend.postgresql` in the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PostgresOptions(BaseModel):
    """PostgreSQL's own settings."""

    model_config = ConfigDict(extra="forbid")

    split_connections: int | None = Field(
        default=None, ge=1, le=16,
        description="connections a large fullload file is filled over at once (default: 2, or 1 on one core)")
    split_min_bytes: int = Field(default=64 * (1 << 20), ge=0, description="files this large (as stored) are split")
