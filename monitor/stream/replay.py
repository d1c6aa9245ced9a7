"""A recorded stream (a file of the service's lines, as `curl` saves them) applied through
the same path as the live stream: framing, batches, the stored position (events at or
before it are skipped), the audit rows, the snapshot join. For tests, back-fills and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.backends import Backend
from monitor.config import StreamSource
from monitor.stream.applier import Applier
from monitor.stream.framing import Event, Framer
from monitor.stream.join import join_snapshot

CHUNK_BYTES = 1 << 16


@dataclass
class Replayed:
    """What a replay did: events read, applied (after the position), rejected; malformed
    lines and heartbeats skipped; batches written; the position at the end."""

    read: int = 0
    applied: int = 0
    rejected: int = 0
    malformed: int = 0
    heartbeats: int = 0
    batches: int = 0
    timepoint: int | None = None


def replay_file(backend: Backend, source: StreamSource, path: Path, instance: str) -> Replayed:
    """Apply the events recorded in `path` to the stream's target."""
    applier = Applier(backend, source, instance)
    applier.start()
    join_snapshot(applier)
    framer = Framer(max_line_bytes=source.max_line_bytes)
    done = Replayed()
    batch: list[Event] = []

    def flush() -> None:
        counts = applier.apply(batch)
        if counts is not None:
            done.applied += counts.events - len(counts.rejected)
            done.rejected += len(counts.rejected)
            done.batches += 1
        batch.clear()

    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            for event in framer.feed(chunk):
                done.read += 1
                batch.append(event)
                if len(batch) >= source.batch_events:
                    flush()
        for event in framer.feed(b"\n"):  # a last line without its newline
            done.read += 1
            batch.append(event)
    flush()
    done.malformed, done.heartbeats = framer.malformed, max(framer.heartbeats - 1, 0)
    done.timepoint = applier.position.timepoint
    return done
