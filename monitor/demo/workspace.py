"""The demo workspace: a config on the embedded SQLite default and two sample drops."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.config import Settings, load_settings
from monitor.demo.companies_house import write_companies_house
from monitor.demo.enrichment import write_enrichment


def write_demo_workspace(root: Path) -> Settings:
    """Write `<root>/monitor.json` (SQLite under `<root>`) and return its settings."""
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
    return load_settings(path)


def drop_samples(root: Path, rows: int) -> list[Path]:
    """Write a Companies House snapshot (.zip) and an enrichment export, each first in a
    scratch folder and then renamed into its watched folder, as a careful copier would."""
    drops = [
        (root / "incoming" / "companies" / "BasicCompanyDataAsOneFile-2026-11-01.zip",
         lambda p: write_companies_house(p, rows, seed=1, zipped=True)),
        (root / "incoming" / "contacts" / "contacts-2026-11-22.csv",
         lambda p: write_enrichment(p, max(rows // 10, 10), seed=2)),
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
