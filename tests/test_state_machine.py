"""The file state machine in-process, on each real database: claims, the transitions it
allows and the ones it refuses, leases and their takeover, and the event trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from monitor.catalog import events, files
from monitor.load.state.machine import TRANSITIONS, ClaimKind, FileFacts, StateStore, Status, TransitionError, utcnow


@pytest.fixture
def dropped(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("id\n1\n")
    return FileFacts(str(path), path.name, "ab" * 32, path.stat().st_size)


def event_trail(backend, load_id: int) -> list[str]:
    with backend.reading() as conn:
        query = select(events.c.status).where(events.c.load_id == load_id).order_by(events.c.event_id)
        return [row.status for row in conn.execute(query)]


def loaded(store: StateStore, load_id: int) -> None:
    store.move(load_id, Status.CLAIMED, Status.LOADING)
    store.move(load_id, Status.LOADING, Status.LOADED, rows_loaded=1)


def test_a_claim_then_loaded_then_the_same_content_is_a_duplicate(backend, dropped):
    store = StateStore(backend, "a")
    claim = store.claim(dropped, "main", "contacts", "append")
    assert claim.kind is ClaimKind.CLAIMED and claim.load_id is not None
    assert store.claim(dropped, "main", "contacts", "append").kind is ClaimKind.BUSY  # in flight: no second row
    loaded(store, claim.load_id)
    again = store.claim(dropped, "main", "contacts", "append")
    assert again.kind is ClaimKind.DUPLICATE and again.duplicate_of == claim.load_id
    assert store.get(again.load_id).status == Status.DUPLICATE
    assert event_trail(backend, claim.load_id) == ["claimed", "loading", "loaded"]
    other_target = store.claim(dropped, "main", "leads", "append")
    assert other_target.kind is ClaimKind.CLAIMED  # the same bytes into another table are a new load


def test_a_file_that_left_its_folder_is_not_claimed(backend, dropped, tmp_path):
    gone = FileFacts(str(tmp_path / "gone.csv"), "gone.csv", "cd" * 32, 1)
    assert StateStore(backend, "a").claim(gone, "main", "contacts", "append").kind is ClaimKind.VANISHED


def test_every_move_outside_the_machine_is_refused(backend, dropped):
    store = StateStore(backend, "a")
    load_id = store.claim(dropped, "main", "contacts", "append").load_id
    refused = [(source, target) for source in Status for target in Status if target not in TRANSITIONS[source]]
    assert len(refused) == 36  # of 49 pairs, 13 are transitions
    for source, target in refused:
        with backend.transaction() as conn:
            conn.execute(update(files).where(files.c.load_id == load_id).values(status=source.value))
        with pytest.raises(TransitionError, match="is not a transition"):
            store.move(load_id, source, target)
        assert store.get(load_id).status == source


def test_a_transition_from_a_state_the_file_is_not_in_changes_nothing(backend, dropped):
    store = StateStore(backend, "a")
    load_id = store.claim(dropped, "main", "contacts", "append").load_id
    with pytest.raises(TransitionError, match="was not loading"):
        store.move(load_id, Status.LOADING, Status.LOADED)
    assert store.get(load_id).status == Status.CLAIMED
    assert event_trail(backend, load_id) == ["claimed"]


def test_a_live_lease_is_kept_an_expired_one_is_taken_over(backend, dropped):
    first, second = StateStore(backend, "first"), StateStore(backend, "second")
    load_id = first.claim(dropped, "main", "contacts", "append").load_id
    first.move(load_id, Status.CLAIMED, Status.LOADING)
    assert not second.take_over(load_id)  # the lease is live
    assert [row.load_id for row in second.unfinished()] == []
    with backend.transaction() as conn:  # the first instance died: its lease runs out
        conn.execute(update(files).where(files.c.load_id == load_id)
                     .values(lease_expires=utcnow() - timedelta(seconds=1)))
    assert [row.load_id for row in second.unfinished()] == [load_id]
    assert second.take_over(load_id)
    row = second.get(load_id)
    assert row.claimed_by == "second" and row.attempts == 2
    with pytest.raises(TransitionError):  # the first instance may not move it any more
        first.move(load_id, Status.LOADING, Status.LOADED)
    second.move(load_id, Status.LOADING, Status.CLAIMED)  # the new holder redoes it
    assert event_trail(backend, load_id) == ["claimed", "loading", "claimed", "claimed"]


def test_renewal_extends_only_the_holders_lease(backend, dropped):
    first, second = StateStore(backend, "first", lease_seconds=5), StateStore(backend, "second", lease_seconds=500)
    load_id = first.claim(dropped, "main", "contacts", "append").load_id
    before = first.get(load_id).lease_expires
    second.renew([load_id])
    assert first.get(load_id).lease_expires == before
    first.lease = timedelta(seconds=300)
    first.renew([load_id])
    assert first.get(load_id).lease_expires > before + timedelta(seconds=200)


def test_a_release_hands_a_rolled_back_load_to_whoever_comes_first(backend, dropped):
    first, second = StateStore(backend, "first"), StateStore(backend, "second")
    load_id = first.claim(dropped, "main", "contacts", "append").load_id
    first.move(load_id, Status.CLAIMED, Status.LOADING)
    first.release(load_id)
    row = first.get(load_id)
    assert row.status == Status.CLAIMED and row.lease_expires <= utcnow()
    assert second.take_over(load_id)


def test_terminal_states_end_the_lease_and_time_the_load(backend, dropped):
    store = StateStore(backend, "a")
    load_id = store.claim(dropped, "main", "contacts", "append").load_id
    store.move(load_id, Status.CLAIMED, Status.LOADING)
    with backend.transaction() as conn:
        store.transition(conn, load_id, Status.LOADING, Status.FAILED, error="bad file",
                         **store.finish_timing(conn, load_id))
    row = store.get(load_id)
    assert row.lease_expires is None and row.finished_at is not None and row.duration_ms is not None
    assert row.error == "bad file"
    assert store.claim(dropped, "main", "contacts", "append").kind is ClaimKind.CLAIMED  # failed: may load again
