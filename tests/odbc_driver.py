"""Microsoft's ODBC Driver 18 for SQL Server for the tests, without Microsoft's repository.

PyPI's `mssql-python-odbc` (pinned in requirements.txt; the driver binaries mssql-python loads)
ships `libmsodbcsql-18.*.so` per Linux family. When unixODBC has no `ODBC Driver 18 for SQL
Server` registered, `register()` writes a project-local `odbcinst.ini` (the system's drivers,
copied, plus this one) and points `ODBCSYSINI` at its folder, before any ODBC call of the
process: unixODBC reads that variable once. `python tests/odbc_driver.py` does it and says so.
"""

from __future__ import annotations

import configparser
import os
import platform
import sys
from pathlib import Path

DRIVER = "ODBC Driver 18 for SQL Server"
LOCAL_FOLDER = Path(__file__).resolve().parent.parent / ".odbc"
FAMILIES = {"debian": "debian_ubuntu", "ubuntu": "debian_ubuntu", "rhel": "rhel", "fedora": "rhel",
            "centos": "rhel", "suse": "suse", "opensuse": "suse", "alpine": "alpine"}


def wants_driver_18(url: str) -> bool:
    """Whether a SQL Server URL names ODBC Driver 18 (`driver=ODBC+Driver+18+for+SQL+Server`)."""
    return DRIVER.lower() in url.replace("+", " ").replace("%20", " ").lower()


def ini_folder() -> Path:
    """Where unixODBC reads odbcinst.ini now (`ODBCSYSINI`, else /etc)."""
    return Path(os.environ.get("ODBCSYSINI") or "/etc")


def drivers_in(folder: Path) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None, strict=False)
    ini.optionxform = str  # type: ignore[assignment,method-assign]  # keys as written
    ini.read(folder / "odbcinst.ini")
    return ini


def driver_library() -> Path | None:
    """The driver library in the installed mssql-python-odbc for this machine's family."""
    try:
        import mssql_python_odbc  # type: ignore[import-untyped]
    except ImportError:
        return None
    release = {}
    with open("/etc/os-release", encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.strip().partition("=")
            release[key] = value.strip('"')
    names = [release.get("ID", ""), *release.get("ID_LIKE", "").split()]
    family = next((FAMILIES[name] for name in names if name in FAMILIES), "debian_ubuntu")
    lib = Path(mssql_python_odbc.get_libs_dir()) / "linux" / family / platform.machine() / "lib"
    return next(iter(sorted(lib.glob("libmsodbcsql-18.*.so*"))), None)


def register(folder: Path = LOCAL_FOLDER) -> str:
    """Make ODBC Driver 18 reachable by name; what was done, in one line."""
    if not sys.platform.startswith("linux"):
        return f"{DRIVER}: not registered here (install it as the README says)"
    if drivers_in(ini_folder()).has_section(DRIVER):
        return f"{DRIVER}: registered in {ini_folder() / 'odbcinst.ini'}"
    library = driver_library()
    if library is None:
        return f"{DRIVER}: not registered (mssql-python-odbc has no driver for this machine)"
    ini = drivers_in(ini_folder())
    ini[DRIVER] = {"Description": "Microsoft ODBC Driver 18 for SQL Server (PyPI mssql-python-odbc)",
                   "Driver": str(library), "UsageCount": "1"}
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "odbcinst.ini").open("w", encoding="utf-8") as handle:
        ini.write(handle, space_around_delimiters=False)
    os.environ["ODBCSYSINI"] = str(folder)
    return f"{DRIVER}: registered from {library} in {folder / 'odbcinst.ini'} (ODBCSYSINI={folder})"


if __name__ == "__main__":
    print(register())
