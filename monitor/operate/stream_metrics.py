"""The streams' series on `/metrics`: state, position, lag, rate and the lines skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.stream.status import STATES

if TYPE_CHECKING:
    from monitor.operate.metrics import Live


class StreamCollector:
    """Collects each configured stream's live state at scrape time."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        """One series per stream (label `stream`), the state as one gauge per state name."""
        statuses = self.live.streams()
        labels = ["stream"]
        connected = GaugeMetricFamily("ingest_stream_connected", "1 while the stream delivers", labels=labels)
        state = GaugeMetricFamily("ingest_stream_state", "1 for the stream's state now", labels=["stream", "state"])
        timepoint = GaugeMetricFamily("ingest_stream_last_timepoint", "The last applied event's timepoint",
                                      labels=labels)
        lag = GaugeMetricFamily("ingest_stream_lag_seconds",
                                "Now minus the published_at of the last applied event", labels=labels)
        rate = GaugeMetricFamily("ingest_stream_events_per_second", "Events applied per second (last minute)",
                                 labels=labels)
        last_byte = GaugeMetricFamily("ingest_stream_last_byte_timestamp_seconds",
                                      "When the last byte (event or heartbeat) arrived", labels=labels)
        applied = CounterMetricFamily("ingest_stream_events_applied", "Events applied", labels=labels)
        rejected = CounterMetricFamily("ingest_stream_events_rejected", "Events rejected", labels=labels)
        malformed = CounterMetricFamily("ingest_stream_malformed_lines", "Lines skipped as malformed", labels=labels)
        reconnects = CounterMetricFamily("ingest_stream_reconnects", "Connections ended", labels=labels)
        for status in statuses:
            name = [status.name]
            connected.add_metric(name, float(status.connected))
            for each in STATES:
                state.add_metric([status.name, each], float(status.state == each))
            if status.last_timepoint is not None:
                timepoint.add_metric(name, float(status.last_timepoint))
            seconds = status.lag_seconds()
            if seconds is not None:
                lag.add_metric(name, seconds)
            rate.add_metric(name, status.events_per_second())
            if status.last_byte_at is not None:
                last_byte.add_metric(name, status.last_byte_at)
            applied.add_metric(name, status.events_applied)
            rejected.add_metric(name, status.events_rejected)
            malformed.add_metric(name, status.malformed)
            reconnects.add_metric(name, status.reconnects)
        yield from (connected, state, timepoint, lag, rate, last_byte, applied, rejected, malformed, reconnects)
