"""Encrypted connections to the server of `MSSQL_URL`, through each driver that runs here, when
the server has a certificate: `MSSQL_TLS_CA` names the PEM file of the authority that signed it
(a throwaway one in a test set-up), and the certificate names the URL's host.

Each try connects in a process of its own (the trust store is the process's: `SSL_CERT_FILE`
for Microsoft's driver and mssql-python, `ca file` in a freetds.conf for FreeTDS) and runs
`SELECT 1` through the daemon's own engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MSSQL_URL
from sqlalchemy.engine import make_url
from test_mssql_drivers import ODBC_18, driver_urls

pytestmark = pytest.mark.mssql
TLS_CA = os.environ.get("MSSQL_TLS_CA", "")
TRY = """
import sys
from sqlalchemy.engine import make_url
from monitor.backends.mssql.connect import mssql_engine
engine = mssql_engine(make_url(sys.argv[1]))
try:
    with engine.connect() as conn:
        print("connected", conn.exec_driver_sql("SELECT 1").scalar())
except Exception as exc:
    print("refused:", str(exc).splitlines()[0][:300])
"""


def attempt(url: str, **env: str) -> str:
    """`connected 1`, or `refused: <the driver's message>`."""
    done = subprocess.run([sys.executable, "-c", TRY, url], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=Path(__file__).resolve().parent.parent)
    return (done.stdout.strip() or done.stderr.strip().splitlines()[-1])[:400]


def with_query(url: str, drop: tuple[str, ...] = (), **query: str) -> str:
    parsed = make_url(url)
    kept = {k: v for k, v in parsed.query.items()
            if k.lower() not in ("encrypt", "trustservercertificate", "hostnameincertificate", *drop)}
    return parsed.set(query={**kept, **query}).render_as_string(hide_password=False)


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
        "a wrong host name": attempt(with_query(url, Encrypt="yes", HostNameInCertificate="wrong.example"),
                                     **trusted),
        "Encrypt=strict, the CA trusted": attempt(with_query(url, Encrypt="strict"), **trusted),
    }
    print(json.dumps(seen, indent=1))  # the README's encryption paragraph is written from these
    assert seen["Encrypt=yes, the CA trusted"] == "connected 1", seen
    assert seen["TrustServerCertificate=yes"] == "connected 1", seen
    assert seen["Encrypt=yes, the CA not trusted"].startswith("refused"), seen
    assert seen["a wrong host name"].startswith("refused"), seen
    if seen["Encrypt=strict, the CA trusted"] != "connected 1":
        pytest.skip(f"Encrypt=strict (TDS 8.0) is refused by this server: {seen['Encrypt=strict, the CA trusted']}")


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
        "a wrong host name": attempt(with_query(url, Encryption="require", HostNameInCertificate="wrong.example"),
                                     **freetds(TLS_CA)),
    }
    print(json.dumps(seen, indent=1))
    assert seen["Encryption=require, the CA trusted"] == "connected 1", seen
    assert seen["Encryption=require, another CA"].startswith("refused"), seen
    if seen["a wrong host name"] == "connected 1":
        pytest.skip("this FreeTDS reads no HostNameInCertificate (FreeTDS 1.4 does): the name is not checked here")
