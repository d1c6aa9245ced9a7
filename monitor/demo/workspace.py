"""The demo workspace: a config on the embedded SQLite default and two sample drops."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from monitor.config import ConfigError, Settings, load_settings
from monitor.demo.companies_house import write_companies_house
from monitor.demo.enrichment import write_enrichment

DEMO_TABLES = ("companies", "contacts")
RUNS_FILE = ".demo-runs"  # how many times the demo ran in this workspace


def write_demo_workspace(root: Path, env_file: str | Path | None = None) -> Settings:
    """Write `<root>/monitor.json` (SQLite under `<root>`, unless `.env` or the environment
    says another database) and return its settings."""
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "database_url": f"sqlite:///{(root / 'ingest.db').as_posix()}",
        "settle_seconds": 1.0,
        "folders": [
            {"path": str(root / "incoming" / "companies"), "pattern": "BasicCompanyData*",
             "table": "companies", "mode": "fullload", "reference": True},
            {"path": str(root / "incoming" / "contacts"), "pattern": "*.csv",
             "table": "contacts", "mode": "append", "reference": False},
        ],
    }
    path = root / "monitor.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return load_settings(path, env_file)


def demo_folders(settings: Settings) -> dict[str, Path]:
    """The watched folder of the rules loading `companies` and `contacts` (a config given
    with `--config` needs both)."""
    found = {rule.table: rule.path for rule in reversed(settings.folders) if rule.table in DEMO_TABLES}
    missing = [table for table in DEMO_TABLES if table not in found]
    if missing:
        raise ConfigError(f"the demo drops its samples into the folders of the rules loading companies and "
                          f"contacts; this config has none for {', '.join(missing)}")
    return found


def next_run(root: Path) -> int:
    """This run's number in the workspace (1 the first time), counted in `<root>/.demo-runs`."""
    counter = root / RUNS_FILE
    try:
        run = int(counter.read_text(encoding="utf-8").strip() or 0) + 1
    except (OSError, ValueError):
        run = 1
    root.mkdir(parents=True, exist_ok=True)
    counter.write_text(str(run), encoding="utf-8")
    return run


def drop_samples(root: Path, rows: int, run: int = 1, folders: dict[str, Path] | None = None) -> list[Path]:
    """Write a Companies House snapshot (.zip) and an enrichment export, each first in a
    scratch folder and then renamed into its watched folder, as a careful copier would. Run
    `n` drops new files: dated `n - 1` days later, with other content."""
    folders = folders or {table: root / "incoming" / table for table in DEMO_TABLES}
    later = timedelta(days=run - 1)
    drops = [
        (folders["companies"] / f"BasicCompanyDataAsOneFile-{date(2026, 11, 1) + later}.zip",
         lambda p: write_companies_house(p, rows, seed=run, zipped=True)),
        (folders["contacts"] / f"contacts-{date(2026, 11, 22) + later}.csv",
         lambda p: write_enrichment(p, max(rows // 10, 10), seed=run + 1)),
    ]
    dropped = []
    for final, write in drops:
        final.parent.mkdir(parents=True, exist_ok=True)
        scratch = root / "scratch" / final.name
        scratch.parent.mkdir(parents=True, exist_ok=True)
        write(scratch)
        scratch.rename(final)
        dropped.append(final)
    return dropped
