"""The stream's parts in-process: framing, the mapping to the snapshot's columns, and the
applier on every database (events merged by key with history, deletes, the position and the
audit row in step, events at or before the position skipped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sqlalchemy import select, text

from bench.stream_server import event, history, model, profile
from monitor.backends import Backend
from monitor.catalog import files, rejects
from monitor.config import StreamSource
from monitor.stream.applier import Applier
from monitor.stream.client import Backoff, retry_after
from monitor.stream.framing import Event, Framer
from monitor.stream.mapping import basic_company_data
from monitor.stream.runner import Streams

EXAMPLE = {
    "company_name": "EXAMPLE UK LIMITED", "company_number": "07687209", "company_status": "active", "type": "ltd",
    "date_of_creation": "2011-06-29",
    "registered_office_address": {"address_line_1": "Unit 9 Berry Court Farm", "address_line_2": "Bramley Road",
                                  "locality": "Tadley", "region": "Hampshire", "postal_code": "RG26 5AT",
                                  "country": "England"},
    "sic_codes": ["70229"],
    "accounts": {"accounting_reference_date": {"day": "29", "month": "12"}, "next_due": "2022-09-29",
                 "last_accounts": {"made_up_to": "2020-12-31", "type": "total-exemption-full"}},
    "confirmation_statement": {"next_due": "2022-07-13", "last_made_up_to": "2021-06-29"},
    "previous_company_names": [{"name": "EXAMPLE FITTINGS LIMITED", "effective_from": "2011-06-29",
                                "ceased_on": "2011-07-15"}],
}


def line(item: dict) -> bytes:
    return (json.dumps(item) + "\n").encode()


def test_framing_cuts_lines_across_chunks_and_counts_heartbeats_and_malformed_lines() -> None:
    framer = Framer(max_line_bytes=2048)
    one, two = line(event(5, "00000001", None, "2026-12-01T10:00:00")), line(event(6, "00000002", None, "x"))
    data = b"\n" + one + b"\r\n" + b"not json\n" + b'{"event": {}}\n' + two + b"x" * 3000 + b"\n" + one
    events = []
    for start in range(0, len(data), 7):  # chunks that cut lines anywhere
        events += list(framer.feed(data[start:start + 7]))
    assert [e.timepoint for e in events] == [5, 6, 5]
    assert framer.heartbeats == 2  # the bare newline and the \r\n
    assert framer.malformed == 3  # not JSON, no timepoint, too long
    assert events[0].resource_id == "00000001" and events[0].event_type == "changed"


def test_framing_forgets_a_line_cut_by_a_disconnect() -> None:
    framer = Framer()
    whole = line(event(9, "00000009", None, "t"))
    assert list(framer.feed(whole[:20])) == []
    framer.reset()
    assert [e.timepoint for e in framer.feed(whole)] == [9]
    assert framer.malformed == 0


def test_mapping_writes_the_snapshots_forms() -> None:
    row = basic_company_data(EXAMPLE, {"SICCode.SicText_1": "70229 - Management consultancy activities"})
    assert row["CompanyName"] == "EXAMPLE UK LIMITED" and row["CompanyNumber"] == "07687209"
    assert row["CompanyStatus"] == "Active" and row["CompanyCategory"] == "Private Limited Company"
    assert row["IncorporationDate"] == "29/06/2011"
    assert row["RegAddress.AddressLine1"] == "UNIT 9 BERRY COURT FARM" and row["RegAddress.PostTown"] == "TADLEY"
    assert row["RegAddress.CareOf"] == ""  # an address is replaced as a whole
    assert row["Accounts.AccountRefDay"] == "29" and row["Accounts.NextDueDate"] == "29/09/2022"
    assert row["Accounts.AccountCategory"] == "TOTAL EXEMPTION FULL"
    assert row["SICCode.SicText_1"] == "70229 - Management consultancy activities"  # same code: text kept
    assert row["SICCode.SicText_2"] == ""
    assert row["PreviousName_1.CONDATE"] == "15/07/2011"
    assert row["PreviousName_1.CompanyName"] == "EXAMPLE FITTINGS LIMITED"
    assert row["ConfStmtNextDueDate"] == "13/07/2022"
    assert row["URI"] == "http://business.data.gov.uk/id/company/07687209"
    for kept in ("CountryOfOrigin", "Mortgages.NumMortCharges", "Returns.NextDueDate"):
        assert kept not in row  # the profile does not say: the table's value stays
    changed_code = basic_company_data({"sic_codes": ["62012"]}, {"SICCode.SicText_1": "70229 - Management"})
    assert changed_code["SICCode.SicText_1"] == "62012"
    strike_off = basic_company_data({"company_status": "active",
                                     "company_status_detail": "active-proposal-to-strike-off"}, {})
    assert strike_off["CompanyStatus"] == "Active - Proposal to Strike off"
    assert basic_company_data({"type": "some-new-type"}, {})["CompanyCategory"] == "some-new-type"


def source(**extra: object) -> StreamSource:
    return StreamSource.model_validate({"name": "companies", "url": "http://127.0.0.1:1/companies", **extra})


def events_of(items: list[dict]) -> list[Event]:
    return [Event.parse(json.dumps(item)) for item in items]


def table_rows(backend: Backend, applier: Applier) -> dict[str, dict[str, str]]:
    name = backend.qualified(applier.schema, applier.table)
    with backend.reading() as conn:
        rows = conn.execute(text(f"SELECT company_number, company_name, company_status, reg_address_post_code, "
                                 f"accounts_next_due_date FROM {name}")).all()
    return {r[0]: {"name": r[1], "status": r[2], "post_code": r[3] or "", "next_due": r[4] or ""} for r in rows}


def test_applier_merges_by_key_keeps_history_deletes_and_skips_what_it_has(backend: Backend) -> None:
    applier = Applier(backend, source(), "test")
    applier.start()
    first = [event(10, "00000001", profile("00000001", 1), "2026-12-01T10:00:00"),
             event(11, "00000002", profile("00000002", 1), "2026-12-01T10:00:01"),
             event(12, "00000001", profile("00000001", 2, partial=True), "2026-12-01T10:00:02")]
    counts = applier.apply(events_of(first))
    assert counts is not None and (counts.inserted, counts.updated, counts.deleted) == (2, 0, 0)
    assert table_rows(backend, applier) == model(first)
    assert table_rows(backend, applier)["00000001"]["post_code"] == "RG2 5AT"  # the partial event kept it
    second = [*first, event(13, "00000002", None, "2026-12-01T10:00:03", "deleted"),
              event(14, "00000001", profile("00000001", 3), "2026-12-01T10:00:04"),
              event(15, "", {"company_name": "NO NUMBER"}, "2026-12-01T10:00:05")]
    counts = applier.apply(events_of(second))  # 10..12 again: skipped
    assert counts is not None and counts.events == 3
    assert (counts.updated, counts.deleted, len(counts.rejected)) == (1, 1, 1)
    assert table_rows(backend, applier) == model(second[:5])
    assert applier.apply(events_of(second)) is None  # nothing after the position
    history_place = backend.history_of(applier.schema, applier.table)
    with backend.reading() as conn:
        kept = conn.execute(text(f"SELECT company_number, company_name, _replaced_by FROM "
                                 f"{backend.qualified(history_place.schema, history_place.table)} "
                                 f"ORDER BY company_number")).all()
        audit = conn.execute(select(files).where(files.c.mode == "stream").order_by(files.c.load_id)).all()
        reasons = conn.execute(select(rejects.c.line_number, rejects.c.reason)).all()
        lineage = conn.execute(text(f"SELECT DISTINCT _load_id FROM "
                                    f"{backend.qualified(applier.schema, applier.table)}")).scalars().all()
    assert [(k[0], k[1]) for k in kept] == [("00000001", "COMPANY 00000001 VERSION 2 LIMITED"),
                                             ("00000002", "COMPANY 00000002 VERSION 1 LIMITED")]
    assert [a.status for a in audit] == ["loaded", "loaded"]
    assert audit[0].rows_superseded == 1  # 00000001 twice in the first batch: the later event wins
    assert audit[1].file_name == "companies@13-15" and audit[1].rows_read == 3 and audit[1].rows_rejected == 1
    assert {k[2] for k in kept} == {audit[1].load_id}
    assert lineage == [audit[1].load_id]
    assert reasons == [(15, "no CompanyNumber in the event")]
    assert applier.start().timepoint == 15


def test_applier_matches_the_model_over_many_events(backend: Backend) -> None:
    items = history(50, 600, seed=3)
    applier = Applier(backend, source(), "test")
    applier.start()
    parsed = events_of(items)
    for start in range(0, len(parsed), 97):
        applier.apply(parsed[start:start + 97])
    assert table_rows(backend, applier) == model(items)


def test_recovery_settles_the_batches_a_kill_left_applying_before_the_streams_start(backend: Backend) -> None:
    applier = Applier(backend, source(), "crashed")
    applier.start()
    items = events_of(history(5, 12, seed=4))
    committed = applier.audit.open("companies@committed", items[0].timepoint, items[5].timepoint, 100)
    with backend.transaction() as conn:  # the batch committed; the kill came before its audit row's end
        applier.record(conn, committed, applier.apply_events(conn, items[:6], committed))
    lost = applier.audit.open("companies@lost", items[6].timepoint, items[-1].timepoint, 100)  # killed in it
    Streams(backend, [source()], "restarted").recover()  # what the daemon does before it says it runs
    with backend.reading() as conn:
        audit = {row.load_id: row for row in conn.execute(select(files).where(files.c.mode == "stream"))}
    assert (audit[committed].status, audit[committed].rows_read) == ("loaded", 6)
    assert audit[lost].status == "failed" and "read again" in audit[lost].error


def test_backoff_grows_with_full_jitter_honours_retry_after_and_opens_the_circuit() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, breaker_failures=5, breaker_seconds=600.0)
    waits = [backoff.failed() for _ in range(4)]
    assert all(0 <= wait <= bound for wait, bound in zip(waits, (1, 2, 4, 8), strict=True))
    assert not backoff.open
    assert backoff.failed() == 600.0 and backoff.open  # the fifth failure in a row
    backoff.succeeded()
    assert not backoff.open and backoff.failed(at_least=30.0) >= 30.0
    assert retry_after("7") == 7.0 and retry_after(None) is None and retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 60 < (retry_after(later) or 0) <= 120
