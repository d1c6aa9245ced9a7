"""`ingest-monitor`: the one command-line tool (run, ingest, status, show, retry, replay, ...)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from monitor import __version__
from monitor.backends import dialect_names
from monitor.config import Settings, load_settings
from monitor.load.state.machine import Status
from monitor.load.state.outcome import Outcome
from monitor.operate import audit
from monitor.operate.app import App, build_app, one_off_instance
from monitor.operate.exits import DEBUG_ENV, Exit, one_line
from monitor.operate.logs import setup_logging
from monitor.operate.one_off import ingest_files, keeping_leases, report, with_bar
from monitor.operate.reports import describe, fitted_table, parse_since

STATUS_COLUMNS = ["load_id", "file_name", "target", "mode", "status", "rows_read", "rows_loaded",
                  "rows_rejected", "rows_inserted", "rows_updated", "finished_at", "error"]
STATUS_OPTIONAL = ("rows_inserted", "rows_updated", "rows_read", "mode", "rows_rejected")  # left out when too wide
STATUS_ELASTIC = ("error", "file_name", "target")  # then cut
STATUSES = [status.value for status in Status]
SET_COLUMNS = ["set_id", "set_name", "target", "snapshot_date", "status", "parts", "missing", "rows_loaded",
               "first_seen_at", "incomplete", "error"]


def _columns() -> int:
    """The terminal's width, or 100 when the output is not a terminal."""
    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, args.env_file)


def _quiet_logging(settings: Settings, verbose: bool) -> None:
    """A one-off command logs warnings only (every stage with -v); the lines of each file's
    life are left to its own summary, so nothing is said twice."""
    setup_logging(settings.log_format, "DEBUG" if verbose else "WARNING", file_lines=verbose)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM / SIGINT; SIGHUP reloads its configuration. It starts
    without the database (it says so once, /health answers 503, and files load once the
    database answers); it refuses watched
    folders that do not exist, and a second daemon of the same instance name here."""
    from monitor.operate.reload import Reloader, early_reload_requests, install_signals
    from monitor.operate.runner import running

    asked = early_reload_requests()  # a SIGHUP while starting is applied once running, not fatal
    settings = _settings(args)
    setup_logging(settings.log_format, settings.log_level)
    with running(settings) as (daemon, _):
        reloader = Reloader(daemon, partial(load_settings, args.config, args.env_file), asked)
        install_signals(daemon, reloader)
        daemon.on_tick.append(reloader.apply_if_wanted)
        daemon.run()
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Load the given files now, as if dropped into the folder whose rule matches each;
    print a summary. Exit 0 when every file ended loaded or duplicate, 4 when they did but
    rows were rejected (each such file named with its rejects file), 1 when one did not."""
    settings = _settings(args)
    _quiet_logging(settings, args.verbose)
    app = build_app(settings, instance=one_off_instance())
    try:
        with keeping_leases(app):
            outcomes = ingest_files(app, [Path(p) for p in args.files], progress=not args.no_progress,
                                    rule_name=args.rule)
    finally:
        app.close()
    return report(outcomes, as_json=args.json)


def _rerun(args: argparse.Namespace, action: Callable[[App, int], Outcome]) -> int:
    from monitor.operate.reruns import RerunRefused

    settings = _settings(args)
    _quiet_logging(settings, args.verbose)
    app = build_app(settings, instance=one_off_instance())
    try:
        row = app.state.get(args.load_id)
        path = Path(row.current_path) if row is not None and row.current_path else None
        with keeping_leases(app):
            outcome = with_bar(app, path, not args.no_progress, partial(action, app, args.load_id))
    except RerunRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        app.close()
    if outcome.load_id is not None:
        print(f"load {outcome.load_id}: {outcome.status}")
    return report([outcome])


def cmd_retry(args: argparse.Namespace) -> int:
    """Load a failed file again, from failed/: a new load (the failed one stays failed).
    Refused unless the load failed and its file is still in failed/."""
    from monitor.operate.reruns import retry

    return _rerun(args, retry)


def cmd_replay(args: argparse.Namespace) -> int:
    """Load an archived file again on purpose: a new load marked as a replay (replay_of), so
    duplicate detection lets it through. The archived file stays where it is."""
    from monitor.operate.reruns import replay

    return _rerun(args, replay)


def cmd_status(args: argparse.Namespace) -> int:
    """Recent loads, newest first, filtered by target, status and time; then the snapshot sets
    still waiting for parts (`--sets`: the recent sets alone)."""
    settings = _settings(args)
    app = build_app(settings, instance=one_off_instance())
    try:
        sets = audit.snapshot_sets(app.backend, limit=args.limit, target=args.target,
                                   timeouts=app.pipeline.sets.timeouts(), open_only=not args.sets)
        rows = [] if args.sets else audit.recent(app.backend, limit=args.limit, target=args.target,
                                                 status=args.status, since=args.since)
        known = audit.target_names(app.backend) if args.target and not rows and not sets else []
    finally:
        app.close()
    named = any(args.target in (name, name.split(".", 1)[1]) for name in known)
    if args.target and not rows and not sets and not named:
        print(f"no such target: {args.target} (the audit trail knows: {', '.join(known) or 'none yet'})",
              file=sys.stderr)
        return Exit.FAILED
    if args.json:
        print(json.dumps(sets if args.sets else rows, indent=2, default=str))
    elif args.sets:
        print(audit.table(sets, SET_COLUMNS) if sets else "no snapshot sets yet")
    else:
        print(fitted_table(rows, STATUS_COLUMNS, _columns(), STATUS_OPTIONAL, STATUS_ELASTIC) if rows
              else "no loads yet")
        if sets:
            print(f"\nsnapshot sets waiting for parts ({len(sets)}):")
            print(audit.table(sets, SET_COLUMNS))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """The whole audit record of a load (by load id, file name or path, or SHA-256 prefix): its
    fields, column mapping, state changes and rejects. --json prints the records as JSON."""
    app = build_app(_settings(args), instance=one_off_instance())
    try:
        found = audit.find(app.backend, args.key)
    finally:
        app.close()
    if not found:
        print(f"no load matches {args.key!r}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found, indent=2, default=str))
    else:
        print("\n\n".join(describe(item) for item in found))
    return 0


def cmd_init_db(args: argparse.Namespace) -> int:
    """Create the schemas and the daemon's tables."""
    settings = _settings(args)
    app = build_app(settings, instance=one_off_instance())
    app.close()
    print(f"database ready: {app.backend.name} ({app.backend.engine.url.render_as_string(hide_password=True)})")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and reach the database; name every problem found (folders missing
    or not writable, rules that overlap, a database that does not answer, ...). Exit 2 when the
    configuration is wrong, 3 when only the database is (it does not answer, or refuses writes)."""
    from monitor.operate.checks import check

    problems, notes, warnings = check(args.config, args.env_file)
    if problems:
        print(f"{len(problems)} problem(s):" + (f" ({'; '.join(notes)})" if notes else ""))
        for problem in problems:
            print(f"  - {problem}")
    else:
        print("config ok: " + "; ".join(notes))
    for warning in warnings:
        print(f"  warning: {warning}")
    if not problems:
        return Exit.OK
    return Exit.DATABASE if all(problem.startswith("database: ") for problem in problems) else Exit.USAGE


def cmd_ddl(args: argparse.Namespace) -> int:
    """Print (or write) the DDL of the daemon's own tables for one dialect."""
    from monitor.backends.ddl import render_schema

    sql = render_schema(args.dialect)
    if args.out:
        Path(args.out).write_text(sql, encoding="utf-8")
    else:
        print(sql, end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Make a demo workspace (or use `--config`), drop new sample files, run the daemon until
    they are loaded, print them and what to type next."""
    from monitor.demo.runner import run_demo

    setup_logging("plain", "INFO")
    return run_demo(Path(args.dir), args.rows, args.timeout, args.config, args.env_file)


EPILOG = """examples:
  ingest-monitor run                       the daemon; status page on http://127.0.0.1:8765/
  ingest-monitor ingest exports/*.csv      load files now and print a summary
  ingest-monitor status --status failed --since 1d
  ingest-monitor show 42                   one load in full (--json for JSON)
  ingest-monitor retry 42                  load a failed file again from failed/
  ingest-monitor replay 41                 load an archived file again, on purpose
  ingest-monitor check-config              every problem with the config and the database
"""


def parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    top = argparse.ArgumentParser(prog="ingest-monitor", description=__doc__, epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"ingest-monitor {__version__}")
    _global_options(top, None)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], purpose: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=purpose, description=func.__doc__)
        cmd.set_defaults(func=func)
        _global_options(cmd, argparse.SUPPRESS)  # also after the command: `status --config x`
        return cmd

    command("run", cmd_run, "run the daemon (status page, /metrics, /health on http_port)")

    ingest = command("ingest", cmd_ingest, "load files now and print a summary")
    ingest.add_argument("files", nargs="+", metavar="FILE", help="CSV, .gz or .zip files")
    ingest.add_argument("-v", "--verbose", action="store_true", help="log every stage")
    ingest.add_argument("--rule", metavar="NAME",
                        help="load by the rule of this name (or table), not the one its folder or name picks")
    ingest.add_argument("--no-progress", action="store_true",
                        help="no progress bar (it shows only on a terminal, for files of 1 MB or more)")
    ingest.add_argument("--json", action="store_true", help="print the outcomes as JSON instead of the table")

    status = command("status", cmd_status, "recent loads as a table (or JSON)")
    status.add_argument("--json", action="store_true", help="print JSON audit records")
    status.add_argument("--target", help="table or schema.table")
    status.add_argument("--status", choices=STATUSES)
    status.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="started at or after: today, yesterday, 90m, 6h, 2d, 1w or an ISO date/time (UTC)")
    status.add_argument("--limit", type=int, default=50, help="at most this many loads (default 50)")
    status.add_argument("--sets", action="store_true", help="the snapshot sets (parts, missing parts, status)")

    show = command("show", cmd_show, "one load in full: record, column mapping, events, rejects")
    show.add_argument("key", metavar="LOAD_ID|FILE|SHA256", help="load id, file name or path, or SHA-256 prefix")
    show.add_argument("--json", action="store_true", help="print the records as JSON")

    for name, func, purpose in (("retry", cmd_retry, "load a failed file again from failed/"),
                                ("replay", cmd_replay, "load an archived file again, audited as a replay")):
        rerun = command(name, func, purpose)
        rerun.add_argument("load_id", type=int, metavar="LOAD_ID", help="the load to re-run")
        rerun.add_argument("-v", "--verbose", action="store_true", help="log every stage")
        rerun.add_argument("--no-progress", action="store_true", help="no progress bar")

    command("init-db", cmd_init_db, "create the schemas and the daemon's tables")
    command("check-config", cmd_check_config, "validate the config and the database; list every problem")

    ddl = command("ddl", cmd_ddl, "print the DDL of the daemon's tables for a dialect")
    ddl.add_argument("--dialect", choices=dialect_names(), default="sqlite")
    ddl.add_argument("--out", help="write to this file instead of standard output")

    demo = command("demo", cmd_demo, "make a demo workspace and load sample files with the daemon")
    demo.add_argument("--dir", default="demo", help="workspace folder (default: demo)")
    demo.add_argument("--rows", type=int, default=20_000, help="rows in the sample snapshot")
    demo.add_argument("--timeout", type=float, default=300, help="seconds to wait for the loads")
    return top


def _global_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument("--config", default=default,
                        help="config file (default: $INGEST_MONITOR_CONFIG or config/monitor.json)")
    parser.add_argument("--env-file", default=default, help=".env file (default: ./.env)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ingest-monitor` console script. Every error ends in one line on
    standard error and an exit code (`monitor.operate.exits.Exit`), never a traceback."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        code, line = one_line(exc)
        if code is Exit.INTERNAL and os.environ.get(DEBUG_ENV) == "1":
            raise
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
