"""SQL Server's column types: those of the declared kinds, and those `sys.columns` describes."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy.dialects import mssql
from sqlalchemy.types import TypeEngine

SIMPLE_TYPES: dict[str, TypeEngine] = {
    "bigint": BigInteger(), "int": mssql.INTEGER(), "smallint": mssql.SMALLINT(), "tinyint": mssql.TINYINT(),
    "bit": mssql.BIT(), "date": mssql.DATE(), "datetime": mssql.DATETIME(), "float": mssql.FLOAT(),
    "real": mssql.REAL(), "uniqueidentifier": mssql.UNIQUEIDENTIFIER(),
}
KIND_TYPES: dict[str, TypeEngine] = {
    "integer": BigInteger(), "decimal": mssql.DECIMAL(38, 10), "date": mssql.DATE(),
    "datetime": mssql.DATETIME2(), "boolean": mssql.BIT(),
}


def sql_type(type_name: str, length: int, precision: int, scale: int) -> TypeEngine:
    """The SQLAlchemy type of a column as `sys.columns` describes it."""
    if type_name in ("nvarchar", "nchar"):
        return mssql.NVARCHAR(None if length == -1 else length // 2)
    if type_name in ("varchar", "char"):
        return mssql.VARCHAR(None if length == -1 else length)
    if type_name in ("decimal", "numeric"):
        return mssql.DECIMAL(precision, scale)
    if type_name == "datetime2":
        return mssql.DATETIME2(scale)
    return SIMPLE_TYPES.get(type_name, mssql.NVARCHAR())
