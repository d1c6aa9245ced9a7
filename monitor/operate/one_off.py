"""Loads a command runs itself, not the daemon (`ingest`, `retry`, `replay`): each file now,
its leases kept alive, a progress bar on a terminal, and the outcomes printed with the exit
code they mean."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path

from monitor.intake.rules import NoRule
from monitor.load.state.leases import renewing
from monitor.load.state.outcome import Outcome, OutcomeKind
from monitor.operate.app import App
from monitor.operate.exits import Exit
from monitor.operate.progress import ProgressBar
from monitor.operate.reports import outcome_record, summary


def keeping_leases(app: App) -> AbstractContextManager[None]:
    """Renew this process's leases while it loads, so a daemon never takes a live load over."""
    return renewing(lambda: app.state.renew(app.pipeline.in_flight.ids()), app.settings.lease_seconds,
                    enabled=app.backend.supports_leases)


def _sample(app: App) -> tuple[int, str]:
    """Records read so far by this process's load, and its phase (loading, committing, ...)."""
    loads = app.pipeline.snapshot().values()
    phases = [load["phase"] for load in loads]
    return sum(load["rows"] + load["rejected"] for load in loads), phases[0] if phases else "loading"


def with_bar(app: App, path: Path | None, show: bool, run: Callable[[], Outcome]) -> Outcome:
    """Run one load, drawing a progress bar on standard error when it is a terminal."""
    if path is None or not show or not ProgressBar.wanted(sys.stderr, path):
        return run()
    bar = ProgressBar(sys.stderr, path.name, path)
    bar.start(partial(_sample, app))
    outcome = None
    try:
        outcome = run()
    finally:
        bar.finish(outcome.rows_read if outcome is not None else 0)
    return outcome


def ingest_files(app: App, paths: list[Path], progress: bool = False, rule_name: str | None = None) -> list[Outcome]:
    """Run the pipeline once for each path, as if dropped into its rule's folder (`rule_name`:
    the rule asked for); a file no rule or several rules could take is refused unread. The
    outcomes are read again at the end (a part waiting at first may have loaded with its set)."""
    outcomes = []
    for path in paths:
        if not path.is_file():
            outcomes.append(Outcome(str(path), OutcomeKind.FAILED, error=f"{path}: not a file"))
            continue
        try:
            rule = app.pipeline.rules.for_file(path, rule_name)
        except NoRule as exc:
            outcomes.append(Outcome(path.name, OutcomeKind.FAILED, error=str(exc)))
            continue
        keep = rule.path.resolve() != path.resolve().parent  # from outside its folder: copied in
        outcomes.append(with_bar(app, path, progress, partial(app.pipeline.process, path, rule, keep_source=keep)))
    return [_now(app, outcome) for outcome in outcomes]


def _now(app: App, outcome: Outcome) -> Outcome:
    """A part's outcome read again: `waiting` when it arrived, `loaded` once its set loaded."""
    if outcome.load_id is None or outcome.status is not OutcomeKind.WAITING:
        return outcome
    latest = app.pipeline.outcome_of(outcome.load_id)
    return outcome if latest.status is OutcomeKind.WAITING else latest


NOTED = (OutcomeKind.WAITING, OutcomeKind.SUPERSEDED)


def report(outcomes: list[Outcome], as_json: bool = False) -> int:
    """Print the summary (or the records as JSON) and each problem once; the exit code: 1 when
    a file did not load, 4 when every file loaded but rows were rejected, else 0."""
    if as_json:
        print(json.dumps([outcome_record(o) for o in outcomes], indent=2))
    else:
        print(summary(outcomes))
    for outcome in outcomes:
        if outcome.error and not outcome.ok:
            print(f"error: {outcome.error}", file=sys.stderr)
        elif outcome.status is OutcomeKind.LOADED and outcome.rows_rejected:
            where = f"; rejects in {outcome.rejects_file}" if outcome.rejects_file else ""
            print(f"warning: {outcome.file}: {outcome.rows_rejected} of {outcome.rows_read} row(s) rejected{where}",
                  file=sys.stderr)
        elif outcome.error and outcome.status in NOTED:
            print(f"note: {outcome.file}: {outcome.error}", file=sys.stderr)
    if not all(o.ok for o in outcomes):
        return Exit.FAILED
    return Exit.REJECTS if any(o.rows_rejected for o in outcomes if o.status is OutcomeKind.LOADED) else Exit.OK
