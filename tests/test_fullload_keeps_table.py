"""A fullload in a shared warehouse, through the real daemon on every backend: what people
build on `ref.<t>` (a view, a role's grant, an index; on SQL Server a schema-bound view and a
foreign key) is still there, and still right, after each of four fullloads; `bkp.<t>` holds
the previous snapshot each time; no staging table or swap backup is left.

SQLite has no grants (nothing to test there); its views live in the file of their tables."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from conftest import drop, engine_for, is_babelfish, wait_for, write_csv
from sqlalchemy.engine import make_url

FIRMS = {"path": "incoming/firms", "pattern": "firms-*.csv", "table": "firms", "mode": "fullload", "min_row_share": 0,
         "reference": True, "columns": {"number": {"type": "integer"}}}
HEADER = ["number", "name", "town"]


def snapshot(tmp_path: Path, day: int, rows: int = 40) -> Path:
    """`firms-2026-01-0<day>.csv`: numbers 1..rows (1 always there), names saying the day."""
    return write_csv(tmp_path / "source" / f"firms-2026-01-{day:02}.csv", HEADER,
                     [[str(n), f"firm {n} of day {day}", "Leeds"] for n in range(1, rows + 1)])


def loaded(ws, names: list[str]):
    def check():
        found = dict(ws.query("SELECT file_name, status FROM ingest_files"))
        return all(found.get(name) == "loaded" for name in names)
    return check


def leftovers(ws, backend_url: str) -> list[str]:
    names = sorted(ws.tables("ref") | ws.tables("bkp"))
    return [name for name in names if "__stg_" in name or "__swap_" in name]


def dialect(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


class Built:
    """What a team builds on `ref.firms`, per database, and how each is read back."""

    def __init__(self, ws, url: str) -> None:
        self.ws, self.url, self.kind = ws, url, dialect(url)
        self.role = f"reporting_{uuid.uuid4().hex[:8]}"
        self.password = f"Reader_{uuid.uuid4().hex[:8]}_1"
        self.babelfish = self.kind == "mssql" and is_babelfish(url)

    def run(self, *statements: str) -> None:
        engine = engine_for(self.url)
        try:
            with engine.begin() as conn:
                if self.kind == "sqlite":
                    db = Path(str(engine.url.database))
                    conn.exec_driver_sql(f"ATTACH DATABASE '{db.with_name(db.stem + '.ref.db')}' AS ref")
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def build(self) -> None:
        if self.kind == "sqlite":
            self.run("CREATE VIEW ref.firms_view AS SELECT number, name FROM firms",
                     "CREATE INDEX ref.ix_firms_town ON firms (town)")
        elif self.kind == "postgresql":
            self.run("CREATE VIEW public.firms_view AS SELECT number, name FROM ref.firms",
                     "CREATE INDEX ix_firms_town ON ref.firms (town)",
                     "ALTER TABLE ref.firms ADD CONSTRAINT firms_number UNIQUE (number)",
                     "CREATE TABLE public.orders (id int, number bigint REFERENCES ref.firms (number) "
                     "DEFERRABLE)", "INSERT INTO public.orders VALUES (1, 1)",
                     f"CREATE ROLE {self.role}", f"GRANT USAGE ON SCHEMA ref TO {self.role}",
                     f"GRANT SELECT ON ref.firms TO {self.role}",
                     f"GRANT SELECT ON public.firms_view TO {self.role}")
        else:
            self.run("CREATE VIEW dbo.firms_view AS SELECT number, name FROM ref.firms",
                     "CREATE VIEW dbo.firms_bound WITH SCHEMABINDING AS SELECT number, name FROM ref.firms",
                     "CREATE INDEX ix_firms_number ON ref.firms (number)",
                     "ALTER TABLE ref.firms ADD CONSTRAINT firms_number UNIQUE (number)",
                     "CREATE TABLE dbo.orders (id int, number bigint REFERENCES ref.firms (number))",
                     f"CREATE LOGIN {self.role} WITH PASSWORD = '{self.password}'",
                     f"CREATE USER {self.role} FOR LOGIN {self.role}",
                     f"GRANT SELECT ON ref.firms TO {self.role}")

    def view(self) -> tuple[int, str]:
        table = "ref.firms_view" if self.kind == "sqlite" else ("public" if self.kind == "postgresql"
                                                                else "dbo") + ".firms_view"
        (count, name), = self.ws.query(f"SELECT COUNT(*), MAX(name) FROM {table}")
        return count, name

    def bound_view(self) -> int:
        return self.ws.query("SELECT COUNT(*) FROM dbo.firms_bound")[0][0]

    def as_role(self) -> int:
        """Rows of ref.firms read as the role granted SELECT (SQL Server: logged in as its login)."""
        url = self.url
        if self.kind == "mssql":
            url = make_url(url).set(username=self.role, password=self.password).render_as_string(hide_password=False)
        engine = engine_for(url)
        try:
            with engine.begin() as conn:
                if self.kind == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL ROLE {self.role}")
                return int(conn.exec_driver_sql("SELECT COUNT(*) FROM ref.firms").scalar_one())
        finally:
            engine.dispose()

    def indexes(self) -> set[str]:
        if self.kind == "sqlite":
            return {name for _, name, *_ in self.ws.query("PRAGMA ref.index_list(firms)")}
        if self.kind == "postgresql":
            return {name for (name,) in self.ws.query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'ref' AND tablename = 'firms'")}
        return {name for (name,) in self.ws.query(
            "SELECT name FROM sys.indexes WHERE object_id = OBJECT_ID('ref.firms') AND name IS NOT NULL")}

    def foreign_keys(self) -> int:
        if self.kind == "postgresql":
            return self.ws.query("SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' "
                                 "AND confrelid = 'ref.firms'::regclass")[0][0]
        return self.ws.query("SELECT COUNT(*) FROM sys.foreign_keys "
                             "WHERE referenced_object_id = OBJECT_ID('ref.firms')")[0][0]

    def drop_role(self) -> None:
        if self.kind == "postgresql":
            self.run(f"DROP OWNED BY {self.role}", f"DROP ROLE {self.role}")
        if self.kind == "mssql":
            self.run(f"REVOKE SELECT ON ref.firms FROM {self.role}", f"DROP USER {self.role}",
                     f"DROP LOGIN {self.role}")


def test_views_grants_indexes_and_foreign_keys_stay_through_four_fullloads(make_workspace, tmp_path, backend_url):
    ws = make_workspace(FIRMS)
    built = Built(ws, backend_url)
    days = [1, 2, 3, 4, 5]
    files = [snapshot(tmp_path, day, rows=40 + day) for day in days]
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        drop(files[0], ws.folder("firms"))
        wait_for(loaded(ws, [files[0].name]))
        built.build()
        try:
            for index, day in enumerate(days[1:], start=1):
                drop(files[index], ws.folder("firms"))
                wait_for(loaded(ws, [files[index].name]), timeout=120)
                load_id = ws.query("SELECT load_id FROM ingest_files WHERE file_name = :n", n=files[index].name)[0][0]
                previous = ws.query("SELECT load_id FROM ingest_files WHERE file_name = :n",
                                    n=files[index - 1].name)[0][0]
                assert built.view() == (40 + day, f"firm 9 of day {day}"), f"the view after load {index}"
                assert ws.query("SELECT MIN(_load_id), MAX(_load_id), COUNT(*) FROM ref.firms") == \
                    [(load_id, load_id, 40 + day)]
                assert ws.query("SELECT MIN(_load_id), MAX(_load_id), COUNT(*) FROM bkp.firms") == \
                    [(previous, previous, 40 + days[index - 1])], "bkp holds the previous snapshot"
                wanted = "ix_firms_town" if built.kind != "mssql" else "ix_firms_number"
                assert any(name.lower().startswith(wanted) for name in built.indexes()), built.indexes()  # Babelfish
                # adds a hash to the names it keeps
                if built.kind != "sqlite":
                    assert built.as_role() == 40 + day, "the role granted SELECT reads the new rows"
                    assert built.foreign_keys() == 1
                if built.kind == "mssql":
                    assert built.bound_view() == 40 + day
                assert leftovers(ws, backend_url) == []
        finally:
            built.drop_role()
    assert "Traceback" not in daemon.output()


@pytest.mark.parametrize("backend_url", ["postgresql"], indirect=True)
def test_a_foreign_key_that_cannot_hold_fails_the_load_and_keeps_the_table(make_workspace, tmp_path, backend_url):
    """Rows of another table point at a firm the new snapshot lacks (a key the swap would break):
    the load fails with PostgreSQL's reason, the table and its backup as they were."""
    ws = make_workspace(FIRMS)
    built = Built(ws, backend_url)
    first, smaller = snapshot(tmp_path, 1, rows=40), snapshot(tmp_path, 2, rows=10)
    with ws.daemon() as daemon:
        wait_for(lambda: "ingest-monitor running" in daemon.output(), timeout=180)
        drop(first, ws.folder("firms"))
        wait_for(loaded(ws, [first.name]))
        try:
            built.build()
            built.run("INSERT INTO public.orders VALUES (2, 40)")
            drop(smaller, ws.folder("firms"))
            failed = wait_for(lambda: ws.query("SELECT error FROM ingest_files WHERE file_name = :n "
                                               "AND status = 'failed'", n=smaller.name), timeout=120)
        finally:
            built.drop_role()
    assert "foreign key" in failed[0][0]
    assert built.view() == (40, "firm 9 of day 1")
    assert leftovers(ws, backend_url) == []
