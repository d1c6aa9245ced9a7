"""A fullload's swap in-process, on each real database: the staging table becomes the target,
the table it replaces becomes `bkp.<table>`, and `keep_backups` versions are kept in all."""

from __future__ import annotations

import pytest

from monitor.backends.target import Target
from monitor.catalog import BKP_SCHEMA, REF_SCHEMA
from monitor.load.write import backups


def snapshot(backend, load_id: int) -> None:
    """A committed staging table of two rows for `load_id`."""
    staging = backend.staging_name("snap", load_id)
    with backend.transaction() as conn:
        backend.create_table(conn, REF_SCHEMA, staging, ["value"])
        target = Target(REF_SCHEMA, staging, ["value"], load_id, fresh=True, destination="snap")
        assert backend.bulk_insert(conn, target, [[[f"v{load_id}"], [f"w{load_id}"]]]) == 2


def swap(backend, load_id: int, keep: int) -> None:
    snapshot(backend, load_id)
    with backend.transaction() as conn:
        backups.swap_in(backend, conn, REF_SCHEMA, "snap", backend.staging_name("snap", load_id), keep)


def versions(backend) -> tuple[int | None, int | None, list[int]]:
    """(load in ref.snap, load in bkp.snap, older backups' loads newest first)."""
    with backend.reading() as conn:
        current = backend.load_id_of(conn, REF_SCHEMA, "snap")
        has_backup = backend.table_exists(conn, BKP_SCHEMA, "snap")
        backup = backend.load_id_of(conn, BKP_SCHEMA, "snap") if has_backup else None
        older = [load_id for load_id, _ in backups.backup_names(backend, conn, "snap")]
        leftovers = [name for name in backend.tables_in(conn, REF_SCHEMA) if "__stg_" in name]
    assert not leftovers, f"staging tables left behind: {leftovers}"
    return current, backup, older


@pytest.mark.parametrize("keep", [0, 1, 3])
def test_each_swap_keeps_the_configured_number_of_versions(backend, keep):
    for load_id in range(1, 6):
        swap(backend, load_id, keep)
    current, backup, older = versions(backend)
    assert current == 5
    if keep == 0:
        assert (backup, older) == (None, [])
    else:
        assert backup == 4
        assert older == list(range(3, 3 - (keep - 1), -1))  # keep 3: bkp.snap (4), then 3 and 2
    with backend.reading() as conn:
        assert backend.rows_of_load(conn, REF_SCHEMA, "snap", 5) == 2


def test_a_first_swap_has_nothing_to_back_up(backend):
    swap(backend, 7, keep=2)
    assert versions(backend) == (7, None, [])


def test_a_swap_that_fails_leaves_every_version_as_it_was(backend):
    swap(backend, 1, keep=2)
    swap(backend, 2, keep=2)
    before = versions(backend)
    snapshot(backend, 3)
    with pytest.raises(RuntimeError), backend.transaction() as conn:
        backups.swap_in(backend, conn, REF_SCHEMA, "snap", backend.staging_name("snap", 3), 2)
        raise RuntimeError("the load's transaction fails after the swap")
    with backend.transaction() as conn:
        backend.drop_table(conn, REF_SCHEMA, backend.staging_name("snap", 3))
    assert versions(backend) == before == (2, 1, [])
