"""`ingest-monitor`: the one command-line tool (run, ingest, status, show, init-db, ...)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor import audit
from monitor.app import App, build_app, one_off_instance
from monitor.config import ConfigError, FolderRule, Settings, load_settings
from monitor.logs import setup_logging
from monitor.pipeline import Outcome

STATUS_COLUMNS = ["load_id", "file_name", "target", "mode", "status", "rows_read", "rows_loaded",
                  "rows_rejected", "finished_at", "error"]
SUMMARY_COLUMNS = ["file", "target", "status", "read", "loaded", "rejected", "duplicate", "seconds"]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, args.env_file)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM / SIGINT."""
    from monitor.daemon import Daemon

    settings = _settings(args)
    setup_logging(settings.log_format, settings.log_level)
    app = build_app(settings)
    daemon = Daemon(app)
    daemon.install_signal_handlers()
    try:
        daemon.run()
    finally:
        app.close()
    return 0


def _summary_row(outcome: Outcome) -> dict[str, object]:
    return {
        "file": outcome.file, "target": outcome.target, "status": outcome.status,
        "read": outcome.rows_read, "loaded": outcome.rows_loaded, "rejected": outcome.rows_rejected,
        "duplicate": "yes" if outcome.status == "duplicate" else "no",
        "seconds": f"{outcome.seconds:.2f}",
    }


def ingest_files(app: App, paths: list[Path]) -> list[Outcome]:
    """Run the pipeline once for each path, as if dropped into its rule's folder."""
    outcomes = []
    for path in paths:
        rule: FolderRule | None = app.settings.rule_for(path)
        if not path.is_file():
            outcomes.append(Outcome(str(path), "failed", error=f"{path}: not a file"))
        elif rule is None:
            outcomes.append(Outcome(path.name, "failed", error=f"{path.name}: no folder rule matches"))
        else:
            in_watched = rule.path.resolve() == path.resolve().parent
            outcomes.append(app.pipeline.process(path, rule, keep_source=not in_watched))
    return outcomes


def cmd_ingest(args: argparse.Namespace) -> int:
    """Load the given files now; exit 0 when every file ended loaded or duplicate."""
    settings = _settings(args)
    setup_logging(settings.log_format, "WARNING" if not args.verbose else settings.log_level)
    app = build_app(settings, instance=one_off_instance())
    try:
        outcomes = ingest_files(app, [Path(p) for p in args.files])
    finally:
        app.close()
    print(audit.table([_summary_row(o) for o in outcomes], SUMMARY_COLUMNS))
    for outcome in outcomes:
        if outcome.error and not outcome.ok:
            print(f"error: {outcome.error}", file=sys.stderr)
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_status(args: argparse.Namespace) -> int:
    """Recent loads, newest first."""
    settings = _settings(args)
    app = build_app(settings, instance=one_off_instance())
    try:
        since = datetime.fromisoformat(args.since) if args.since else None
        rows = audit.recent(app.backend, limit=args.limit, target=args.target, status=args.status, since=since)
    finally:
        app.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(audit.table(rows, STATUS_COLUMNS) if rows else "no loads yet")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """The whole audit record of a load (by load id, file name or SHA-256 prefix)."""
    app = build_app(_settings(args), instance=one_off_instance())
    try:
        found = audit.find(app.backend, args.key)
    finally:
        app.close()
    if not found:
        print(f"no load matches {args.key!r}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=2, default=str))
    return 0


def cmd_init_db(args: argparse.Namespace) -> int:
    """Create the schemas and the daemon's tables."""
    settings = _settings(args)
    app = build_app(settings, instance=one_off_instance())
    app.close()
    print(f"database ready: {app.backend.name} ({app.backend.engine.url.render_as_string(hide_password=True)})")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate the config and reach the database."""
    settings = _settings(args)
    app = build_app(settings, instance=one_off_instance(), init_db=False)
    try:
        app.backend.ping()
    finally:
        app.close()
    print(f"config ok: {len(settings.folders)} folder rule(s); database answers ({app.backend.name})")
    return 0


def cmd_ddl(args: argparse.Namespace) -> int:
    """Print (or write) the DDL of the daemon's own tables for one dialect."""
    from monitor.ddl import render_schema

    sql = render_schema(args.dialect)
    if args.out:
        Path(args.out).write_text(sql, encoding="utf-8")
    else:
        print(sql, end="")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Make a demo workspace, drop sample files, run the daemon until they are loaded."""
    from monitor.daemon import Daemon
    from monitor.demo import drop_samples, write_demo_workspace

    setup_logging("plain", "INFO")
    root = Path(args.dir)
    settings = write_demo_workspace(root)
    app = build_app(settings)
    daemon = Daemon(app)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    dropped = drop_samples(root, args.rows)
    deadline = time.monotonic() + args.timeout
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        rows = audit.recent(app.backend, limit=len(dropped))
        if len(rows) >= len(dropped) and all(r["status"] in ("loaded", "duplicate", "failed") for r in rows):
            break
        time.sleep(0.5)
    daemon.stop_event.set()
    thread.join(timeout=30)
    app.close()
    print(audit.table(rows, STATUS_COLUMNS))
    print(f"\ndemo database: {settings.database_url}; config: {root / 'monitor.json'}")
    return 0 if len(rows) == len(dropped) and all(r["status"] == "loaded" for r in rows) else 1


def parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    top = argparse.ArgumentParser(prog="ingest-monitor", description=__doc__)
    top.add_argument("--config", help="config file (default: $INGEST_MONITOR_CONFIG or config/monitor.json)")
    top.add_argument("--env-file", help=".env file (default: ./.env)")
    sub = top.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the daemon", description=cmd_run.__doc__).set_defaults(func=cmd_run)

    ingest = sub.add_parser("ingest", help="load files now", description=cmd_ingest.__doc__)
    ingest.add_argument("files", nargs="+", help="CSV, .gz or .zip files")
    ingest.add_argument("-v", "--verbose", action="store_true", help="log every stage")
    ingest.set_defaults(func=cmd_ingest)

    status = sub.add_parser("status", help="recent loads", description=cmd_status.__doc__)
    status.add_argument("--json", action="store_true", help="print JSON audit records")
    status.add_argument("--target", help="table or schema.table")
    status.add_argument("--status", choices=["claimed", "loading", "loaded", "duplicate", "failed"])
    status.add_argument("--since", help="ISO date or time (UTC)")
    status.add_argument("--limit", type=int, default=50)
    status.set_defaults(func=cmd_status)

    show = sub.add_parser("show", help="one load in full", description=cmd_show.__doc__)
    show.add_argument("key", help="load id, file name or SHA-256 prefix")
    show.set_defaults(func=cmd_show)

    sub.add_parser("init-db", help="create schemas and tables",
                   description=cmd_init_db.__doc__).set_defaults(func=cmd_init_db)
    sub.add_parser("check-config", help="validate config and database",
                   description=cmd_check_config.__doc__).set_defaults(func=cmd_check_config)

    ddl = sub.add_parser("ddl", help="print the DDL for a dialect", description=cmd_ddl.__doc__)
    ddl.add_argument("--dialect", choices=["sqlite", "postgresql", "mssql"], default="sqlite")
    ddl.add_argument("--out", help="write to this file instead of standard output")
    ddl.set_defaults(func=cmd_ddl)

    demo = sub.add_parser("demo", help="run the daemon on sample files", description=cmd_demo.__doc__)
    demo.add_argument("--dir", default="demo", help="workspace folder (default: demo)")
    demo.add_argument("--rows", type=int, default=20_000, help="rows in the sample snapshot")
    demo.add_argument("--timeout", type=float, default=300)
    demo.set_defaults(func=cmd_demo)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ingest-monitor` console script."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
