"""What keeps a snapshot set from jamming on "one content is loaded into a target once".

A part's bytes may reach the target by another way than its set: a copy under a name that is
no part's (`twin`: a duplicate of the waiting part), a part whose content was loaded as a
snapshot of its own before (`lost_part`: the set cannot ever load whole, so it fails, every
part saying why), or a file loading at the moment the set completes (`clash`, checked before
the set starts). Whatever arrives, each part ends in a terminal state with its reason.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from monitor.catalog import files, sets
from monitor.config import FolderRule
from monitor.load.read.snapshots import part_of
from monitor.load.state.machine import Status
from monitor.records import FileRecord


def twin_of(conn: Connection, row: FileRecord) -> FileRecord | None:
    """A part waiting in its set with the content of `row` (a file not named as a part)."""
    found = conn.execute(select(files).where(
        files.c.target_schema == row.target_schema, files.c.target_table == row.target_table,
        files.c.sha256 == row.sha256, files.c.status == Status.WAITING.value).limit(1)).first()
    return FileRecord.of(found) if found is not None else None


def twin_note(part: FileRecord) -> str:
    """What a twin's audit row says."""
    return (f"the same content as part {part.set_part} of set {part.set_id} (load {part.load_id}, {part.file_name}), "
            "waiting for the rest of its set: a copy of that part, not a snapshot")


def lost_part(conn: Connection, rule: FolderRule, schema: str, table: str, set_name: str) -> str | None:
    """Why set `set_name` can never load (None: it may): one of its parts arrived as a duplicate
    of a snapshot loaded on its own (its content is in the target already, not as a part)."""
    alone = select(files.c.load_id).where(files.c.target_schema == schema, files.c.target_table == table,
                                          files.c.set_id.is_(None), files.c.status == Status.LOADED.value)
    query = select(files.c.load_id, files.c.file_name, files.c.duplicate_of).where(
        files.c.target_schema == schema, files.c.target_table == table, files.c.status == Status.DUPLICATE.value,
        files.c.set_id.is_(None), files.c.duplicate_of.in_(alone))
    for dup in conn.execute(query.order_by(files.c.load_id)):
        found = part_of(rule, dup.file_name)
        if found is not None and found.set_name == set_name:
            return (f"{found} of {set_name} arrived as load {dup.load_id} ({dup.file_name}), a duplicate of load "
                    f"{dup.duplicate_of}, loaded into {schema}.{table} as a snapshot of its own; one content loads "
                    "into a target once, so the set cannot load (replay its parts to load it on purpose)")
    return None


def clash(conn: Connection, set_id: int) -> str | None:
    """Why a complete set can never load (None: it can): one of its parts has the content of a
    file loaded (or loading) into the target as a snapshot of its own."""
    found = conn.execute(select(sets).where(sets.c.set_id == set_id)).first()
    if found is None or found.replay_of is not None:
        return None
    waiting = conn.execute(select(files).where(files.c.set_id == set_id, files.c.status == Status.WAITING.value))
    for part in list(waiting):
        other = conn.execute(select(files).where(
            files.c.target_schema == found.target_schema, files.c.target_table == found.target_table,
            files.c.sha256 == part.sha256, files.c.replay_of.is_(None), files.c.load_id != part.load_id,
            files.c.status.in_([Status.CLAIMED.value, Status.LOADING.value, Status.LOADED.value]),
        ).limit(1)).first()
        if other is not None:
            return (f"{part.file_name}: part {part.set_part} of set {set_id} ({found.set_name}) has the same content "
                    f"as load {other.load_id} ({other.file_name}, {other.status}) into {found.target_schema}."
                    f"{found.target_table}; one content loads into a target once, so the set cannot load: not "
                    "loaded (replay the set's parts to load it on purpose)")
    return None
