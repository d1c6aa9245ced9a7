"""The shape guard of a fullload: a file whose header is unlike the table it would replace is
refused, so a file dropped into the wrong folder never becomes the reference table.

A fullload whose columns share less than the rule's `min_shared_columns` (default half) of
the current table's columns fails, naming both column lists, unless the rule has
`allow_new_shape`; columns added or dropped within that bound load, and are reported as
warnings in the audit row.
"""

from __future__ import annotations

from monitor.catalog import LOAD_ID_COLUMN
from monitor.config import FolderRule
from monitor.source import SourceError


class ShapeError(SourceError):
    """The file's header is too unlike the table it would replace."""


def check_shape(name: str, columns: list[str], existing: list[str] | None, rule: FolderRule,
                target: str) -> list[str]:
    """Warnings for a fullload of `columns` over a table of `existing` columns (None: no table
    yet); raises `ShapeError` when they share too little."""
    if rule.mode != "fullload" or not existing:
        return []
    current = [column for column in existing if column != LOAD_ID_COLUMN]
    if not current:
        return []
    incoming = set(columns)
    shared = [column for column in current if column in incoming]
    share = len(shared) / len(current)
    if share < rule.min_shared_columns and not rule.allow_new_shape:
        raise ShapeError(
            f"{name}: its header shares {len(shared)} of the {len(current)} columns of {target} "
            f"({share:.0%}, less than min_shared_columns {rule.min_shared_columns:g}): not loaded, {target} "
            f"is unchanged (a file in the wrong folder? `allow_new_shape` loads it). The file's columns: "
            f"{', '.join(columns)}. The table's columns: {', '.join(current)}"
        )
    warnings = []
    added = [column for column in columns if column not in set(current)]
    dropped = [column for column in current if column not in incoming]
    if added:
        warnings.append(f"new columns (not in the {target} it replaces): {', '.join(added)}")
    if dropped:
        warnings.append(f"dropped columns (in the {target} it replaces, not in the file): {', '.join(dropped)}")
    return warnings
