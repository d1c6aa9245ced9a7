"""A local server that speaks the Companies House streaming API's protocol, for the tests and
the benchmark, and misbehaves on demand.

`GET /companies` with HTTP basic auth (the key as user name, empty password) holds the
response open and sends one JSON event per line, a bare newline as a heartbeat while it has
nothing to send; `?timepoint=N` starts at the event of timepoint N (inclusive); a timepoint
older than the oldest kept is answered `416`, a wrong key `401`. On demand: the next
requests refused (`429` with `Retry-After`, or any status), the connection cut in the middle
of a line after some events, heartbeats only, malformed lines between events, a pace in
events per minute. It records each request and when each timepoint was first sent.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

KEY = "test-stream-key"


def profile(number: str, version: int, *, partial: bool = False, status: str = "active") -> dict[str, Any]:
    """A company profile as the service sends it (`partial`: without accounts and address)."""
    data: dict[str, Any] = {
        "company_name": f"COMPANY {number} VERSION {version} LIMITED", "company_number": number,
        "company_status": status, "type": "ltd", "date_of_creation": "2011-06-29",
        "sic_codes": ["70229"],
    }
    if not partial:
        data["registered_office_address"] = {"address_line_1": f"{version} High Street", "locality": "Tadley",
                                             "postal_code": f"RG{version % 90 + 1} 5AT", "country": "England"}
        data["accounts"] = {"accounting_reference_date": {"day": "31", "month": "12"},
                            "next_due": f"{2026 + version % 3}-09-29",
                            "last_accounts": {"made_up_to": "2025-12-31", "type": "total-exemption-full"}}
    return data


def event(timepoint: int, number: str, data: dict[str, Any] | None, published_at: str,
          kind: str = "changed") -> dict[str, Any]:
    """One event envelope."""
    return {"resource_kind": "company-profile", "resource_uri": f"/company/{number}", "resource_id": number,
            "data": data or {"company_number": number}, "event": {"timepoint": timepoint,
                                                                   "published_at": published_at, "type": kind}}


def history(companies: int, count: int, *, seed: int = 7, first: int = 1000, start: datetime | None = None,
            deletes: bool = True) -> list[dict[str, Any]]:
    """`count` events over `companies` companies changing several times: most carry a whole
    profile, some a partial one (no address, no accounts), a few delete the company."""
    rng = random.Random(seed)
    moment = start or datetime(2026, 11, 20, 9, 0, 0)
    versions: dict[str, int] = {}
    out = []
    for offset in range(count):
        number = f"{rng.randrange(companies):08d}"
        versions[number] = versions.get(number, 0) + 1
        roll = rng.random()
        published = (moment + timedelta(seconds=offset)).isoformat(timespec="seconds")
        if deletes and roll < 0.03:
            out.append(event(first + offset, number, None, published, "deleted"))
        else:
            out.append(event(first + offset, number, profile(number, versions[number], partial=roll > 0.8),
                             published))
    return out


def model(events: Iterable[dict[str, Any]], start: dict[str, dict[str, str]] | None = None,
          ) -> dict[str, dict[str, str]]:
    """What the table should say after `events` (on the rows of `start`), per company: the
    latest name, status word, post code and accounts due date each event gave (the snapshot's
    forms); deleted gone."""
    table = {number: dict(row) for number, row in (start or {}).items()}
    for item in events:
        number = item["resource_id"]
        if item["event"]["type"] == "deleted":
            table.pop(number, None)
            continue
        data = item["data"]
        row = table.setdefault(number, {"post_code": "", "next_due": ""})
        row["name"] = data["company_name"]
        row["status"] = {"active": "Active", "dissolved": "Dissolved"}.get(data["company_status"], "?")
        if "registered_office_address" in data:
            row["post_code"] = data["registered_office_address"]["postal_code"].upper()
        if "accounts" in data:
            due = data["accounts"]["next_due"]
            row["next_due"] = f"{due[8:10]}/{due[5:7]}/{due[0:4]}"
    return table


class StreamServer:
    """The server, in a thread of its own: `start`, `stop`, and the knobs below."""

    def __init__(self, events: list[dict[str, Any]] | None = None, *, key: str = KEY) -> None:
        self.key = key
        self.lines: list[tuple[int, bytes]] = []
        self.oldest: int | None = None  # a timepoint before this is answered 416 (None: all kept)
        self.refusals: list[tuple[int, dict[str, str]]] = []  # the next requests answered with these
        self.cut_after: int | None = None  # cut the next connection mid-line after this many events
        self.heartbeats_only = False
        self.malformed_every = 0  # a malformed line before every Nth event
        self.per_minute: float | None = None  # pace (None: as fast as the client reads)
        self.heartbeat_seconds = 0.2
        self.now_index = 0  # where a request without a timepoint starts
        self.requests: list[dict[str, Any]] = []
        self.generation = 0  # `drop_connections` ends the connections of earlier generations
        self.sent_at: dict[int, float] = {}
        self._lock = threading.Condition()
        self._stopped = threading.Event()
        self.append(events or [])
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="stream-server", daemon=True)

    @property
    def url(self) -> str:
        """The companies stream's address."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/companies"

    def append(self, events: Iterable[dict[str, Any]]) -> None:
        """Publish more events (in timepoint order)."""
        with self._lock:
            for item in events:
                self.lines.append((item["event"]["timepoint"], (json.dumps(item) + "\n").encode()))
            self._lock.notify_all()

    def drop_connections(self) -> None:
        """End every open connection (cleanly, between lines)."""
        with self._lock:
            self.generation += 1
            self._lock.notify_all()

    def start(self) -> StreamServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            self._lock.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------
    def _refusal(self, query: dict[str, str], auth: str) -> tuple[int, dict[str, str]] | None:
        if auth != "Basic " + base64.b64encode(f"{self.key}:".encode()).decode():
            return 401, {}
        with self._lock:
            if self.refusals:
                return self.refusals.pop(0)
        if "timepoint" in query and self.oldest is not None and int(query["timepoint"]) < self.oldest:
            return 416, {}
        return None

    def _start_index(self, query: dict[str, str]) -> int:
        if "timepoint" not in query:
            return self.now_index
        wanted = int(query["timepoint"])
        with self._lock:
            return next((i for i, (tp, _) in enumerate(self.lines) if tp >= wanted), len(self.lines))

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = dict(parse_qsl(parts.query))
        refusal = self._refusal(query, handler.headers.get("Authorization", ""))
        self.requests.append({"path": parts.path, "query": query, "status": refusal[0] if refusal else 200,
                              "at": time.time()})
        if parts.path != "/companies":
            refusal = (404, {})
        if refusal is not None:
            status, headers = refusal
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        self._send_events(handler, self._start_index(query))

    def _send_events(self, handler: BaseHTTPRequestHandler, index: int) -> None:
        cut, self.cut_after = self.cut_after, None
        sent, generation, began = 0, self.generation, 0.0
        out = handler.wfile
        while not self._stopped.is_set() and generation == self.generation:
            with self._lock:
                line = None if self.heartbeats_only or index >= len(self.lines) else self.lines[index]
                if line is None:
                    self._lock.wait(self.heartbeat_seconds)
            if line is None:
                out.write(b"\n")
                out.flush()
                continue
            timepoint, body = line
            if cut is not None and sent >= cut:
                out.write(body[: len(body) // 2])
                out.flush()
                return
            if self.malformed_every and sent % self.malformed_every == self.malformed_every - 1:
                out.write(b'{"not": "an event", "cut off\n')
            out.write(body)
            out.flush()
            self.sent_at.setdefault(timepoint, time.time())
            sent += 1
            index += 1
            if self.per_minute:  # on a schedule from the first event, so that a slow write is caught up
                began = began or time.time()
                delay = began + sent * 60.0 / self.per_minute - time.time()
                if delay > 0:
                    time.sleep(delay)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._serve(self)

        return Handler


def iso(moment: datetime) -> str:
    """A `published_at` value."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
