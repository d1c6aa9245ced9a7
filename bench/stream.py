"""`python -m bench.stream`: the companies stream through the real daemon, from a local server
that speaks the service's protocol (`bench/stream_server.py`; the real service is not reachable
here), on PostgreSQL and SQLite.

Each run starts `ingest-monitor run` on a fresh database with one stream configured (the
defaults: batches of up to 500 events or 0.5 s), publishes N events over a set of companies
(most a whole profile, some partial, a few deletes) at a paced rate, or as fast as the daemon
reads them, and stops the daemon once the last timepoint is stored. It reports:

- events per second applied: events / (last batch committed - first event sent);
- latency per event: the batch's `applied_at` (taken in its transaction, just before the
  commit) minus the moment the server wrote the event, median and 99th percentile;
- database time per event: the batches' audited durations summed, over the events;
- the daemon's peak RSS (VmHWM, read every 10 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from bench.databases import DEFAULT_PG_URL, PgServer
from bench.measure import _watch_hwm, median, percentile
from bench.stream_server import KEY, StreamServer, history
from bench.workspace import cli_command, cli_env
from monitor.backends.sqlite.csv_reader import driver_module

RESULTS_DIR = Path(__file__).with_name("results")
TARGETS = {"events_per_minute": 1000, "latency_s": 5.0, "rss_mb": 100, "db_ms_per_event": 50}


@dataclass
class StreamRun:
    """One run's figures."""

    backend: str
    rate: str
    events: int
    sent_per_s: float
    applied_per_s: float
    latency_median: float
    latency_p99: float
    db_ms_per_event: float
    batches: int
    peak_rss_mb: float
    correct: bool


def _engine(url: str) -> tuple[Engine, Path | None]:
    if url.startswith("sqlite"):
        engine = create_engine(url, module=driver_module())
        return engine, Path(url.removeprefix("sqlite:///"))
    return create_engine(url), None


def _query(url: str, sql: str) -> list[tuple]:
    engine, db = _engine(url)
    try:
        with engine.connect() as conn:
            if db is not None:
                conn.exec_driver_sql(f"ATTACH DATABASE '{db.with_name(db.stem + '.ref' + db.suffix)}' AS ref")
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _position(url: str) -> int | None:
    try:
        rows = _query(url, "SELECT timepoint FROM ref.ingest_stream_positions")
    except Exception:  # not created yet
        return None
    return rows[0][0] if rows else None


def run_one(backend: str, url: str, work: Path, *, events: int, companies: int, per_minute: float | None,
            timeout: float) -> StreamRun:
    """One daemon, one stream, `events` events at `per_minute` (None: as fast as it reads)."""
    items = history(companies, events, seed=events)
    root = work / f"{backend}-{events}-{int(per_minute or 0)}"
    folder = root / "incoming" / "companies"
    folder.mkdir(parents=True, exist_ok=True)
    with StreamServer(items) as server:
        server.per_minute = per_minute
        config = {"database_url": url, "http_port": 0, "settle_seconds": 1.0,
                  "folders": [{"path": str(folder), "pattern": "BasicCompanyData*", "table": "companies",
                               "mode": "fullload", "reference": True}],
                  "streams": [{"name": "companies", "url": server.url}]}
        path = root / "monitor.json"
        path.write_text(json.dumps(config))
        env = {**cli_env(), "CH_STREAM_API_KEY": KEY}
        log = (root / "daemon.log").open("w")
        proc = subprocess.Popen([*cli_command(), "--config", str(path), "run"], cwd=root, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        done, peak = threading.Event(), [0]
        watcher = threading.Thread(target=_watch_hwm, args=(proc.pid, done, peak), daemon=True)
        watcher.start()
        last = items[-1]["event"]["timepoint"]
        deadline = time.monotonic() + timeout
        try:
            while _position(url) != last and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
            done.set()
            watcher.join()
            log.close()
        sent = dict(server.sent_at)
    batches = _query(url, "SELECT first_timepoint, last_timepoint, applied_at FROM ref.ingest_stream_batches")
    durations = _query(url, "SELECT SUM(duration_ms), COUNT(*) FROM ingest_files WHERE mode = 'stream' "
                            "AND status = 'loaded'")
    latencies = []
    commit_times = []
    for first, last_tp, applied_at in batches:
        applied = datetime.fromisoformat(applied_at) if isinstance(applied_at, str) else applied_at
        moment = applied.replace(tzinfo=UTC).timestamp()
        commit_times.append(moment)
        latencies += [moment - sent[tp] for tp in range(first, last_tp + 1) if tp in sent]
    first_sent, last_sent = min(sent.values()), max(sent.values())
    total_ms = float(durations[0][0] or 0)
    correct = _position(url) == last and len(latencies) == len(items)
    return StreamRun(backend, f"{int(per_minute):,}/min" if per_minute else "as fast as read", len(items),
                     len(items) / max(last_sent - first_sent, 1e-9), len(items) / max(max(commit_times) - first_sent,
                                                                                       1e-9),
                     median(latencies), percentile(latencies, 99), total_ms / len(items), int(durations[0][1]),
                     peak[0] / 1024, correct)


def idle_rss(url: str, work: Path, seconds: float = 15.0) -> float:
    """The daemon's peak RSS (MB) with the same folder rule and no stream, idle for `seconds`:
    what the stream's own share is measured against."""
    root = work / "idle"
    folder = root / "incoming" / "companies"
    folder.mkdir(parents=True, exist_ok=True)
    path = root / "monitor.json"
    path.write_text(json.dumps({"database_url": url, "http_port": 0, "folders": [
        {"path": str(folder), "pattern": "BasicCompanyData*", "table": "companies", "mode": "fullload",
         "reference": True}]}))
    proc = subprocess.Popen([*cli_command(), "--config", str(path), "run"], cwd=root, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    done, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_watch_hwm, args=(proc.pid, done, peak), daemon=True)
    watcher.start()
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    done.set()
    watcher.join()
    return peak[0] / 1024


def report(runs: Sequence[StreamRun], idle: dict[str, float] | None = None) -> str:
    """The results as Markdown, the seed's targets beside the figures."""
    lines = [
        f"# Stream benchmark ({date.today().isoformat()})", "",
        "The companies stream through the real daemon (`ingest-monitor run`, the default stream settings: "
        "batches of up to 500 events or 0.5 s), from a local server speaking the service's protocol "
        "(`bench/stream_server.py`), not the real service. `python -m bench.stream`; "
        f"{os.cpu_count()} cores shared with other work, so times are noisy.", "",
        f"Targets: {TARGETS['events_per_minute']:,}+ events a minute, under {TARGETS['latency_s']:g} s from event "
        f"to table, under {TARGETS['rss_mb']} MB of memory, under {TARGETS['db_ms_per_event']} ms of database time "
        "per event.", "",
        "| database | rate offered | events | sent/s | applied/s | latency median (s) | latency p99 (s) | "
        "db ms/event | batches | peak RSS (MB) | all applied |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| target | | | | {TARGETS['events_per_minute'] / 60:.0f}+ | < {TARGETS['latency_s']:g} | "
        f"< {TARGETS['latency_s']:g} | < {TARGETS['db_ms_per_event']} | | < {TARGETS['rss_mb']} | |",
    ]
    for r in runs:
        lines.append(f"| {r.backend} | {r.rate} | {r.events:,} | {r.sent_per_s:,.0f} | {r.applied_per_s:,.0f} | "
                     f"{r.latency_median:.2f} | {r.latency_p99:.2f} | {r.db_ms_per_event:.2f} | {r.batches} | "
                     f"{r.peak_rss_mb:.0f} | {'yes' if r.correct else 'NO'} |")
    for backend, mb in (idle or {}).items():
        lines.append(f"\nThe same daemon on {backend} with no stream configured, idle: peak RSS {mb:.0f} MB.")
    lines += ["", "Latency: from the moment the server wrote the event to the batch's `applied_at` (taken inside "
              "its transaction, just before the commit). Database time: the audited durations of the batches "
              "(audit rows, merge, history, events kept, position) summed over the events. Peak RSS: the "
              "daemon process's VmHWM."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stream benchmark and write its results."""
    p = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="postgresql,sqlite")
    p.add_argument("--companies", type=int, default=5_000)
    p.add_argument("--minutes", type=float, default=1.5, help="how long each paced run publishes (default 1.5)")
    p.add_argument("--fast-events", type=int, default=20_000, help="events of the as-fast-as-read run")
    p.add_argument("--pg-url", default=os.environ.get("INGEST_BENCH_PG", DEFAULT_PG_URL))
    p.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    args = p.parse_args(argv)
    runs: list[StreamRun] = []
    idle: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                idle[backend] = idle_rss(f"sqlite:///{work / 'idle.db'}", work)
            else:
                server = PgServer(args.pg_url)
                with server.scratch() as name:
                    idle[backend] = idle_rss(server.dbname_url(name), work)
            for per_minute in (1_000.0, 20_000.0, None):
                events = int(per_minute * args.minutes) if per_minute else args.fast_events
                if backend == "sqlite":
                    url = f"sqlite:///{work / f'{backend}-{events}-{int(per_minute or 0)}.db'}"
                    runs.append(run_one(backend, url, work, events=events, companies=args.companies,
                                        per_minute=per_minute, timeout=600))
                else:
                    server = PgServer(args.pg_url)
                    with server.scratch() as name:
                        url = server.dbname_url(name)
                        runs.append(run_one(backend, url, work, events=events, companies=args.companies,
                                            per_minute=per_minute, timeout=600))
                print(report(runs[-1:]).splitlines()[-3], flush=True)
    text_out = report(runs, idle)
    if args.out:
        args.out.write_text(text_out)
    print(text_out)
    return 0 if all(r.correct for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
