"""Encrypted connections to the server of `MSSQL_URL`, through each driver that runs here, when
the server has a certificate: `MSSQL_TLS_CA` names the PEM file of the authority that signed it
(a throwaway one in a test set-up) and the certificate names `localhost` (ODBC Driver 18 matches
no IP address in a certificate: with `127.0.0.1` it says "subject name does not match host
name"); the machine's own host name, when it reaches the same server, is the wrong name.

Each try connects in a process of its own (the trust store is the process's: `SSL_CERT_FILE`
for Microsoft's driver and mssql-python, `ca file` in a freetds.conf for FreeTDS) and runs
asks the server whether the session is encrypted, through the daemon's own engine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MSSQL_URL
from sqlalchemy.engine import make_url
from test_mssql_drivers import ODBC_18, driver_urls

pytestmark = pytest.mark.mssql
TLS_CA = os.environ.get("MSSQL_TLS_CA", "")
OK = "connected, encrypted: TRUE"
TRY = """
import sys
from sqlalchemy.engine import make_url
from monitor.backends.mssql.connect import mssql_engine
engine = mssql_engine(make_url(sys.argv[1]))
try:
    with engine.connect() as conn:
        print("connected, encrypted:", conn.exec_driver_sql(
            "SELECT encrypt_option FROM sys.dm_exec_connections WHERE session_id = @@SPID").scalar())
except Exception as exc:
    print("refused:", str(exc).splitlines()[0][:300])
"""


def attempt(url: str, **env: str) -> str:
    """`connected, encrypted: TRUE`, or `refused: <the driver's message>`."""
    try:
        done = subprocess.run([sys.executable, "-c", TRY, url], capture_output=True, text=True, timeout=90,
                              env={**os.environ, **env}, cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return "refused: no answer within 90 s"
    return (done.stdout.strip() or done.stderr.strip().splitlines()[-1])[:400]


def with_query(url: str, host: str = "localhost", **query: str) -> str:
    """The URL at `host`, its encryption keys replaced by `query`."""
    parsed = make_url(url)
    kept = {k: v for k, v in parsed.query.items()
            if k.lower() not in ("encrypt", "encryption", "trustservercertificate", "hostnameincertificate")}
    return parsed.set(host=host, query={**kept, **query}).render_as_string(hide_password=False)


def wrong_name() -> str:
    """Another name of this machine that reaches a server listening on loopback, else skip."""
    name = socket.gethostname()
    try:
        if name != "localhost" and socket.gethostbyname(name).startswith("127."):
            return name
    except OSError:
        pass
    pytest.skip(f"the host name {name!r} does not reach the loopback server: no wrong name to try here")


@pytest.fixture
def urls() -> dict[str, str]:
    if not MSSQL_URL:
        pytest.skip("MSSQL_URL is not set")
    if not TLS_CA or not Path(TLS_CA).is_file():
        pytest.skip("MSSQL_TLS_CA (the PEM file of the authority that signed the server's certificate) is not set")
    return driver_urls(MSSQL_URL)


@pytest.mark.parametrize("driver", [ODBC_18, "mssql-python"])
def test_microsofts_driver_verifies_the_certificate(urls, driver):
    if driver not in urls:
        pytest.skip(f"{driver} is not registered with unixODBC (tests/odbc_driver.py registers it from PyPI)")
    url, trusted, untrusted = urls[driver], {"SSL_CERT_FILE": TLS_CA}, {"SSL_CERT_FILE": os.devnull}
    seen = {
        "Encrypt=yes, the CA trusted": attempt(with_query(url, Encrypt="yes"), **trusted),
        "Encrypt=yes, the CA not trusted": attempt(with_query(url, Encrypt="yes"), **untrusted),
        "TrustServerCertificate=yes": attempt(with_query(url, Encrypt="yes", TrustServerCertificate="yes"),
                                              **untrusted),
        "a wrong host name": attempt(with_query(url, wrong_name(), Encrypt="yes"), **trusted),
        "Encrypt=strict, the CA trusted": attempt(with_query(url, Encrypt="strict", LoginTimeout="20"), **trusted),
    }
    print(json.dumps(seen, indent=1))  # the README's encryption paragraph is written from these
    assert seen["Encrypt=yes, the CA trusted"] == OK, seen
    assert seen["TrustServerCertificate=yes"] == OK, seen
    assert seen["Encrypt=yes, the CA not trusted"].startswith("refused"), seen
    assert seen["a wrong host name"].startswith("refused"), seen
    if seen["Encrypt=strict, the CA trusted"] != OK:
        pytest.skip(f"Encrypt=strict (TDS 8.0) did not connect here: {seen['Encrypt=strict, the CA trusted']}")


def test_freetds_verifies_the_certificate(urls, tmp_path):
    name = next((n for n in urls if n not in (ODBC_18, "mssql-python")), "")
    if "freetds" not in name.lower():
        pytest.skip("MSSQL_URL does not name FreeTDS")
    url = urls[name]
    conf = tmp_path / "freetds.conf"

    def freetds(ca: str, check_host: bool = True) -> dict[str, str]:
        conf.write_text(f"[global]\n\tca file = {ca}\n\tcheck certificate hostname = {'yes' if check_host else 'no'}\n")
        return {"FREETDSCONF": str(conf)}

    seen = {
        "Encryption=require, the CA trusted": attempt(with_query(url, Encryption="require"), **freetds(TLS_CA)),
        "Encryption=require, another CA": attempt(with_query(url, Encryption="require"),
                                                  **freetds("/etc/ssl/certs/ca-certificates.crt")),
        "a wrong host name": attempt(with_query(url, wrong_name(), Encryption="require"), **freetds(TLS_CA)),
    }
    print(json.dumps(seen, indent=1))
    assert seen["Encryption=require, the CA trusted"] == OK, seen
    if seen["Encryption=require, another CA"] == OK or seen["a wrong host name"] == OK:
        pytest.skip("FreeTDS did not verify the certificate here (`ca file` and `check certificate hostname` "
                    f"in FREETDSCONF's [global]): {seen}")
