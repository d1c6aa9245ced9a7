"""No guessing in `ingest`, through the real command on every backend: a file that two rules
match, given from outside their folders, is refused and changes nothing; `--rule` loads it
where asked; a file in a watched folder takes that folder's rule; `check-config` warns."""

from __future__ import annotations

from conftest import CONTACTS, write_csv

from monitor.demo.companies_house import write_companies_house

COMPANIES_CSV = {"path": "incoming/companies", "pattern": "*.csv", "table": "companies", "mode": "fullload",
                 "reference": True}


def test_a_contacts_file_two_rules_match_is_refused_then_loaded_where_asked(make_workspace, tmp_path):
    ws = make_workspace(COMPANIES_CSV, CONTACTS, http_port=0)
    companies = write_companies_house(tmp_path / "companies-2026-11-01.csv", 300, seed=1, zipped=False)
    ws.cli("ingest", "--rule", "companies", str(companies))
    export = write_csv(tmp_path / "crm-export.csv", ["Email", "Phone"], [[f"u{i}@x.io", str(i)] for i in range(50)])
    audit_before = ws.query("SELECT load_id, status FROM ingest_files")

    refused = ws.cli("ingest", str(export), check=False)
    assert refused.returncode == 1
    assert "crm-export.csv: refused: 2 rules match its name and it is in none of their folders" in refused.stderr
    assert "companies (folder " in refused.stderr and "contacts (folder " in refused.stderr
    assert "choose one with --rule NAME" in refused.stderr
    assert ws.query("SELECT load_id, status FROM ingest_files") == audit_before  # nothing changed
    assert ws.query("SELECT COUNT(*) FROM ref.companies") == [(300,)] and "contacts" not in ws.tables()
    assert export.exists()

    unknown = ws.cli("ingest", "--rule", "leads", str(export), check=False)
    assert unknown.returncode == 1 and "--rule leads: no rule of that name (the rules: companies, contacts)" in \
        unknown.stderr

    loaded = ws.cli("ingest", "--rule", "contacts", str(export))
    assert " loaded " in loaded.stdout
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(50,)]
    assert ws.query("SELECT COUNT(*) FROM ref.companies") == [(300,)]

    inside = write_csv(ws.folder("contacts") / "more.csv", ["Email", "Phone"], [["z@x.io", "9"]])
    ws.cli("ingest", str(inside))  # in a watched folder: that folder's rule, no question
    assert ws.query("SELECT COUNT(*) FROM contacts") == [(51,)]

    check = ws.cli("check-config", check=False)
    assert "warning: folders[1] (contacts) and folders[0] (companies): the patterns '*.csv' and '*.csv' match " \
           "the same names" in check.stdout
