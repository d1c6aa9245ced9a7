"""The stream's command: `ingest-monitor stream-replay FILE` applies a recorded stream."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from monitor.config import load_settings
from monitor.operate.app import build_app, one_off_instance
from monitor.operate.logs import setup_logging
from monitor.stream.replay import replay_file

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def cmd_stream_replay(args: argparse.Namespace) -> int:
    """Apply a recorded stream (one event per line) to a configured stream's target, through
    the same path as the live stream: events at or before the stored position are skipped."""
    settings = load_settings(args.config, args.env_file)
    setup_logging(settings.log_format, settings.log_level)
    streams = [s for s in settings.streams if args.stream in (None, s.name)]
    if len(streams) != 1:
        names = ", ".join(s.name for s in settings.streams) or "none configured"
        raise SystemExit(f"stream-replay: name one configured stream with --stream (streams: {names})")
    app = build_app(settings, instance=one_off_instance())
    try:
        done = replay_file(app.backend, streams[0], Path(args.file), app.state.instance)
    finally:
        app.close()
    print(f"{args.file}: {done.read} event(s) read, {done.applied} applied, {done.rejected} rejected, "
          f"{done.read - done.applied - done.rejected} already applied; {done.malformed} malformed line(s) "
          f"skipped; {done.batches} batch(es); position {done.timepoint}")
    return 0


def add_commands(command: Command) -> None:
    """Register the stream's commands on the `ingest-monitor` parser."""
    replay = command("stream-replay", cmd_stream_replay, "apply a recorded stream file (one event per line)")
    replay.add_argument("file", metavar="FILE", help="the recorded lines")
    replay.add_argument("--stream", help="the configured stream's name (needed when there are several)")
