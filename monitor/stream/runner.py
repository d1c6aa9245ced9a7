"""A stream kept applied while the daemon runs: one thread per stream with its own asyncio
loop. A session connects from the stored position; a reader hands events to a bounded queue,
the applier takes them in batches (up to `batch_events`, or what arrived within
`batch_seconds`) and applies each in a worker thread. Any failure ends the session: the
events already read are applied first when the database is fine; then, after a backoff, the
next session resumes from the position the database holds. Before each batch (and while
idle) the newest snapshot of the target is joined if it has not been (`join.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

import httpx

from monitor.backends import Backend
from monitor.config import StreamSource
from monitor.stream.applier import Applier
from monitor.stream.client import Backoff, Ended, Refused, read_stream, timeouts
from monitor.stream.framing import Event, Framer
from monitor.stream.join import join_snapshot, newest_snapshot, since_of
from monitor.stream.status import StreamStatus

log = logging.getLogger("monitor.stream")
IDLE_JOIN_SECONDS = 5.0  # while no event arrives, look for a new snapshot this often
_DONE = object()


class StreamTask:
    """One configured stream, run in a thread of its own until `stop`."""

    def __init__(self, backend: Backend, source: StreamSource, instance: str) -> None:
        self.source = source
        self.applier = Applier(backend, source, instance)
        self.status = StreamStatus(source.name, f"{self.applier.schema}.{source.table}")
        self.framer = Framer(max_line_bytes=source.max_line_bytes)
        self.backoff = Backoff.of(source)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._too_old_at: str | None = None  # the position's published_at when the service said 416

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Run the stream in its own thread."""
        self._thread = threading.Thread(target=self._run_thread, name=f"stream-{self.source.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop reading, let the batch being applied commit, and return within `timeout`."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self.status.set("stopped")

    def _run_thread(self) -> None:
        asyncio.run(self.run())

    async def run(self) -> None:
        """Sessions until stopped, a backoff between them."""
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        log.info("stream %s: starting (%s into %s)", self.source.name, self.source.url, self.status.target)
        async with httpx.AsyncClient(timeout=timeouts(self.source)) as client:
            while not self._stop.is_set():
                wait = await self._session(client)
                if wait and not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), wait)
        log.info("stream %s: stopped at timepoint %s", self.source.name, self.status.last_timepoint)

    # -- one session -------------------------------------------------------------------
    async def _session(self, client: httpx.AsyncClient) -> float:
        """Connect, read and apply until something fails; the seconds to wait then."""
        try:
            position = await asyncio.to_thread(self._prepare)
        except Exception as exc:
            return self._failed("backoff", f"database: {exc}")
        if position is False:  # the service cannot resume from here: wait for a snapshot
            return self.source.breaker_seconds
        self.status.set("connecting")
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self.source.batch_events * 2)
        reader = asyncio.create_task(self._read(client, position, queue))
        applier = asyncio.create_task(self._apply(queue))
        stopper = asyncio.create_task(self._stop_wait())
        done, _ = await asyncio.wait({reader, applier, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopping = self._stop
        assert stopping is not None
        if reader in done and not stopping.is_set():
            await queue.put(_DONE)  # apply what was read, then stop applying
            await asyncio.wait({applier, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, applier, stopper):
            task.cancel()
        results = await asyncio.gather(reader, applier, stopper, return_exceptions=True)
        self.status.reconnects += 1
        if stopping.is_set():
            return 0.0
        if isinstance(results[1], BaseException) and not isinstance(results[1], asyncio.CancelledError):
            return self._failed("backoff", f"database: {results[1]}")
        return self._reader_ended(results[0])

    async def _stop_wait(self) -> None:
        assert self._stop is not None
        await self._stop.wait()

    def _prepare(self) -> int | bool | None:
        """The stored position (after settling, and joining a new snapshot); False while the
        service said the position is too old and no newer snapshot has come."""
        position = self.applier.start()
        join_snapshot(self.applier)
        self.status.last_timepoint, self.status.last_published_at = position.timepoint, position.published_at
        if self._too_old_at is not None:
            with self.applier.backend.reading() as conn:
                snapshot = newest_snapshot(conn, self.applier.schema, self.applier.table)
            if snapshot is None or since_of(snapshot) <= self._too_old_at:
                self.status.set("timepoint_too_old")
                return False
            log.info("stream %s: a newer snapshot is in; reading the stream from now on", self.source.name)
            self._too_old_at = None
            return None
        return position.timepoint

    def _reader_ended(self, result: object) -> float:
        if isinstance(result, Refused):
            if result.status == 416:
                self._too_old_at = self.status.last_published_at or ""
                log.error("stream %s: HTTP 416: timepoint %s is older than the service keeps; the table waits "
                          "for the next snapshot", self.source.name, self.status.last_timepoint)
                self.status.set("timepoint_too_old", str(result))
                return self.source.breaker_seconds
            if result.status == 401:
                log.error("stream %s: HTTP 401: the API key (%s) was refused", self.source.name,
                          self.source.api_key_env)
                self.status.set("unauthorized", str(result))
                return self.source.breaker_seconds
            return self._failed("backoff", str(result), result.retry_after)
        if isinstance(result, httpx.ReadTimeout):
            return self._failed("backoff", f"no byte for {self.source.idle_timeout:g}s")
        if isinstance(result, Ended | httpx.HTTPError):
            return self._failed("backoff", f"{type(result).__name__}: {result}")
        return self._failed("backoff", repr(result))

    def _failed(self, state: str, error: str, at_least: float | None = None) -> float:
        wait = self.backoff.failed(at_least)
        state = "circuit_open" if self.backoff.open else state
        log.warning("stream %s: %s; %s, next try in %.1fs", self.source.name, error,
                    "circuit open" if self.backoff.open else "reconnecting", wait)
        self.status.set(state, error)
        return wait

    async def _read(self, client: httpx.AsyncClient, position: int | None, queue: asyncio.Queue[object]) -> None:
        def on_bytes() -> None:
            self.status.last_byte_at = time.time()
            self.status.heartbeats, self.status.malformed = self.framer.heartbeats, self.framer.malformed
            if self.status.state != "streaming":
                self.status.set("streaming")

        async def on_event(event: Event) -> None:
            await queue.put(event)

        await read_stream(client, self.source, position, self.framer, on_event, on_bytes)

    async def _apply(self, queue: asyncio.Queue[object]) -> None:
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), IDLE_JOIN_SECONDS)
            except TimeoutError:
                await asyncio.to_thread(join_snapshot, self.applier)
                continue
            if first is _DONE:
                return
            batch, done = [first], False
            deadline = time.monotonic() + self.source.batch_seconds
            while len(batch) < self.source.batch_events:
                try:
                    item = await asyncio.wait_for(queue.get(), max(deadline - time.monotonic(), 0.0))
                except TimeoutError:
                    break
                if item is _DONE:
                    done = True
                    break
                batch.append(item)
            await asyncio.to_thread(self._apply_batch, [e for e in batch if isinstance(e, Event)])
            if done:
                return

    def _apply_batch(self, batch: list[Event]) -> None:
        join_snapshot(self.applier)
        counts = self.applier.apply(batch)
        if counts is None:
            return
        self.backoff.succeeded()
        self.status.applied(counts.events, len(counts.rejected), self.applier.position.timepoint,
                            self.applier.position.published_at)


class Streams:
    """Every configured stream of a daemon."""

    def __init__(self, backend: Backend, sources: list[StreamSource], instance: str) -> None:
        self.tasks = [StreamTask(backend, source, instance) for source in sources]

    def recover(self) -> None:
        """Settle the batches a stop or a crash left `applying`, before the daemon says it runs
        (as the files' recovery does); a stream whose database fails here settles them when its
        thread connects."""
        for task in self.tasks:
            try:
                task.applier.start()
            except Exception as exc:  # the database: its thread tries again
                log.warning("stream %s: interrupted batches not settled yet: %s", task.source.name, exc)

    def start(self) -> None:
        """Start every stream."""
        for task in self.tasks:
            task.start()

    def stop(self, timeout: float) -> None:
        """Stop every stream within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for task in self.tasks:
            task.stop(max(deadline - time.monotonic(), 0.1))

    def statuses(self) -> list[StreamStatus]:
        """Each stream's live state."""
        return [task.status for task in self.tasks]
