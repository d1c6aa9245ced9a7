"""The typed records read back from the daemon's own tables hold exactly the tables' columns, in
their order, and are what the state store hands out (read once, never changing under a reader)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.catalog import files, sets
from monitor.load.state.machine import FileFacts, StateStore
from monitor.records import FileRecord, SetRecord


@pytest.mark.parametrize(("record", "table"), [(FileRecord, files), (SetRecord, sets)])
def test_a_record_has_its_tables_columns(record, table):
    assert [field.name for field in dataclasses.fields(record)] == [column.name for column in table.columns]


def test_the_state_store_hands_out_frozen_records(backend, tmp_path: Path):
    dropped = tmp_path / "a.csv"
    dropped.write_text("a\n1\n")
    state = StateStore(backend, "test")
    claim = state.claim(FileFacts(str(dropped), "a.csv", "ab" * 32, 4), backend.schema_for(True), "a", "append")
    assert claim.load_id is not None
    found = state.get(claim.load_id)
    assert isinstance(found, FileRecord)
    assert (found.file_name, found.status, found.target) == ("a.csv", "claimed", f"{backend.schema_for(True)}.a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.status = "loaded"  # type: ignore[misc]
    assert [row.load_id for row in state.unfinished()] == [claim.load_id]
