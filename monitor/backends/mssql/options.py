"""SQL Server's own settings (`backend.mssql` in the config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MssqlOptions(BaseModel):
    """SQL Server's own settings."""

    model_config = ConfigDict(extra="forbid")

    bcp: bool = Field(default=False, description="bulk load with bcp when it is on the PATH")
    bulk_copy: Literal["auto", "always", "never"] = Field(
        default="never", description="mssql-python's bulk copy (it has loaded no row on any server here): never, "
        "auto (tried first, except on Babelfish, where it panics), always (tried first there too, falling back "
        "per target)")
