"""SQL Server: a load of the daemon's that waits for a lock says so on the status page and in
its API, naming the table, the wait and the session holding it (on a real server from its
dynamic management views; on Babelfish from the PostgreSQL catalogs it runs on)."""

from __future__ import annotations

import pytest
from conftest import CONTACTS, drop, engine_for, wait_for, write_csv
from test_web_status import api, chromium, dump_dom, free_port, started


@pytest.mark.parametrize("backend_url", ["mssql"], indirect=True)
def test_a_load_waiting_for_a_lock_names_the_table_and_its_holder(make_workspace, backend_url, tmp_path):
    port = free_port()
    ws = make_workspace(CONTACTS, http_port=port)
    daemon, base = started(ws, port)
    engine = engine_for(backend_url)
    with daemon, engine.connect() as holder:
        holder.exec_driver_sql("CREATE TABLE dbo.contacts (id NVARCHAR(100), _load_id BIGINT)")
        holder.commit()
        holder_id = int(holder.exec_driver_sql("SELECT @@SPID").scalar_one())
        holder.exec_driver_sql("TRUNCATE TABLE dbo.contacts")  # its lock held until the rollback
        drop(write_csv(tmp_path / "held.csv", ["id"], [[str(i)] for i in range(10)]), ws.folder("contacts"))
        status = wait_for(lambda: (s := api(base))["in_flight"] and s["in_flight"][0]["blocked"] and s, timeout=120)
        dom = dump_dom(chromium(), base)
        holder.rollback()
        wait_for(lambda: any(x["status"] == "loaded" for x in api(base)["loads"]), timeout=120)
    engine.dispose()
    [load] = status["in_flight"]
    assert load["file"] == "held.csv" and load["elapsed_seconds"] >= 0
    assert f"for a lock on dbo.contacts held by session {holder_id} (" in load["blocked"], load["blocked"]
    assert "TRUNCATE TABLE dbo.contacts" in load["blocked"]
    row = dom.split('data-file="held.csv"')[1].split("</tr>")[0]
    assert 'class="error-text blocked"' in row and f"held by session {holder_id}" in row
