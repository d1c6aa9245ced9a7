"""From a company profile (the stream's `data`) to the monthly snapshot's columns.

`basic_company_data` fills only the columns the profile speaks of; a column it lacks keeps
the value the table holds (the applier overlays the mapped values on the current row). The
snapshot's forms are kept: dates `dd/mm/yyyy`; codes as the snapshot's words where the table
below knows them (an unknown code is written as it came); addresses and account categories
in capitals; a SIC code keeps the table's `code - description` when the code is unchanged,
else the bare code (the profile carries no description); a registered office address, the
SIC codes and the previous names are replaced as a whole (slots beyond them emptied).
Columns the profile never carries (mortgages, returns, partners, country of origin) keep
their values. A custom mapping is `{column: "dotted.path"}` into the profile, values as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

Row = dict[str, str]
BDG_URI = "http://business.data.gov.uk/id/company/"
SIC_SLOTS = 4
NAME_SLOTS = 10

# The snapshot's header, as it is written (names normalised as a fullload would, by the caller).
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "CompanyName", "CompanyNumber", "RegAddress.CareOf", "RegAddress.POBox", "RegAddress.AddressLine1",
    "RegAddress.AddressLine2", "RegAddress.PostTown", "RegAddress.County", "RegAddress.Country",
    "RegAddress.PostCode", "CompanyCategory", "CompanyStatus", "CountryOfOrigin", "DissolutionDate",
    "IncorporationDate", "Accounts.AccountRefDay", "Accounts.AccountRefMonth", "Accounts.NextDueDate",
    "Accounts.LastMadeUpDate", "Accounts.AccountCategory", "Returns.NextDueDate", "Returns.LastMadeUpDate",
    "Mortgages.NumMortCharges", "Mortgages.NumMortOutstanding", "Mortgages.NumMortPartSatisfied",
    "Mortgages.NumMortSatisfied", *(f"SICCode.SicText_{n}" for n in range(1, SIC_SLOTS + 1)),
    "LimitedPartnerships.NumGenPartners", "LimitedPartnerships.NumLimPartners", "URI",
    *(f"PreviousName_{n}.{part}" for n in range(1, NAME_SLOTS + 1) for part in ("CONDATE", "CompanyName")),
    "ConfStmtNextDueDate", "ConfStmtLastMadeUpDate",
)

STATUS_WORDS = {
    "active": "Active", "dissolved": "Dissolved", "liquidation": "Liquidation", "administration": "In Administration",
    "receivership": "Receivership Action", "voluntary-arrangement": "Voluntary Arrangement",
    "converted-closed": "Converted / Closed", "insolvency-proceedings": "Insolvency Proceedings",
    "registered": "Registered", "removed": "Removed", "closed": "Closed", "open": "Open",
}
STATUS_DETAIL_WORDS = {"active-proposal-to-strike-off": "Active - Proposal to Strike off"}
CATEGORY_WORDS = {
    "ltd": "Private Limited Company", "plc": "Public Limited Company", "llp": "Limited Liability Partnership",
    "private-limited-guarant-nsc": "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)",
    "private-limited-guarant-nsc-limited-exemption":
        "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital, use of 'Limited' exemption)",
    "private-unlimited": "Private Unlimited Company", "private-unlimited-nsc": "Private Unlimited",
    "limited-partnership": "Limited Partnership", "community-interest-company": "Community Interest Company",
    "charitable-incorporated-organisation": "Charitable Incorporated Organisation",
    "scottish-charitable-incorporated-organisation": "Scottish Charitable Incorporated Organisation",
    "oversea-company": "Overseas Entity", "registered-society-non-jurisdictional": "Registered Society",
}


def snapshot_date(value: Any) -> str:
    """An ISO date (`2011-06-29`) as the snapshot writes it (`29/06/2011`); '' when absent."""
    if not value:
        return ""
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%d/%m/%Y")
    except ValueError:
        return str(value)


def _get(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _address(office: Mapping[str, Any]) -> Row:
    def part(name: str) -> str:
        return str(office.get(name) or "").upper()
    line1 = " ".join(p for p in (part("premises"), part("address_line_1")) if p)
    return {"RegAddress.CareOf": part("care_of"), "RegAddress.POBox": part("po_box"),
            "RegAddress.AddressLine1": line1, "RegAddress.AddressLine2": part("address_line_2"),
            "RegAddress.PostTown": part("locality"), "RegAddress.County": part("region"),
            "RegAddress.Country": part("country"), "RegAddress.PostCode": part("postal_code")}


def _accounts(accounts: Mapping[str, Any]) -> Row:
    row: Row = {}
    reference = accounts.get("accounting_reference_date")
    if isinstance(reference, Mapping):
        row["Accounts.AccountRefDay"] = str(reference.get("day") or "")
        row["Accounts.AccountRefMonth"] = str(reference.get("month") or "")
    if "next_due" in accounts:
        row["Accounts.NextDueDate"] = snapshot_date(accounts["next_due"])
    last = accounts.get("last_accounts")
    if isinstance(last, Mapping):
        row["Accounts.LastMadeUpDate"] = snapshot_date(last.get("made_up_to"))
        kind = str(last.get("type") or "")
        row["Accounts.AccountCategory"] = "NO ACCOUNTS FILED" if kind in ("", "null") else \
            kind.replace("-", " ").upper()
    return row


def _sic(codes: list[Any], current: Mapping[str, str]) -> Row:
    row: Row = {}
    for slot in range(1, SIC_SLOTS + 1):
        name = f"SICCode.SicText_{slot}"
        code = str(codes[slot - 1]) if slot <= len(codes) else ""
        held = current.get(name) or ""
        row[name] = held if code and held.split(" - ", 1)[0].strip() == code else code
    return row


def _previous_names(names: list[Any]) -> Row:
    row: Row = {}
    for slot in range(1, NAME_SLOTS + 1):
        entry = names[slot - 1] if slot <= len(names) and isinstance(names[slot - 1], Mapping) else {}
        row[f"PreviousName_{slot}.CONDATE"] = snapshot_date(entry.get("ceased_on"))
        row[f"PreviousName_{slot}.CompanyName"] = str(entry.get("name") or "")
    return row


def basic_company_data(data: Mapping[str, Any], current: Mapping[str, str]) -> Row:
    """The snapshot columns (header names) this profile gives values for; `current` is the
    row as the table holds it (header names), for what the profile cannot say alone."""
    row: Row = {}
    number = str(data.get("company_number") or "")
    if number:
        row["CompanyNumber"] = number
        row["URI"] = BDG_URI + number
    if "company_name" in data:
        row["CompanyName"] = str(data["company_name"] or "")
    if isinstance(data.get("registered_office_address"), Mapping):
        row.update(_address(data["registered_office_address"]))
    if "type" in data:
        kind = str(data["type"] or "")
        row["CompanyCategory"] = CATEGORY_WORDS.get(kind, kind)
    if "company_status" in data:
        status = str(data["company_status"] or "")
        detail = STATUS_DETAIL_WORDS.get(str(data.get("company_status_detail") or ""))
        row["CompanyStatus"] = detail or STATUS_WORDS.get(status, status)
    for column, key in (("DissolutionDate", "date_of_cessation"), ("IncorporationDate", "date_of_creation")):
        if key in data:
            row[column] = snapshot_date(data[key])
    if isinstance(data.get("accounts"), Mapping):
        row.update(_accounts(data["accounts"]))
    if isinstance(data.get("confirmation_statement"), Mapping):
        statement = data["confirmation_statement"]
        row["ConfStmtNextDueDate"] = snapshot_date(statement.get("next_due"))
        row["ConfStmtLastMadeUpDate"] = snapshot_date(statement.get("last_made_up_to"))
    if isinstance(data.get("sic_codes"), list):
        row.update(_sic(data["sic_codes"], current))
    if isinstance(data.get("previous_company_names"), list):
        row.update(_previous_names(data["previous_company_names"]))
    return row


def by_paths(paths: Mapping[str, str]) -> Callable[[Mapping[str, Any], Mapping[str, str]], Row]:
    """A mapping of `{column: "dotted.path"}`: each column the profile has a value for."""
    def mapped(data: Mapping[str, Any], current: Mapping[str, str]) -> Row:
        row: Row = {}
        for column, path in paths.items():
            value = _get(data, path)
            if value is not None:
                row[column] = value if isinstance(value, str) else str(value)
        return row
    return mapped


def columns_of(mapping: str | Mapping[str, str]) -> tuple[str, ...]:
    """Every column a mapping may write (header names)."""
    return SNAPSHOT_COLUMNS if isinstance(mapping, str) else tuple(mapping)


def mapper_of(mapping: str | Mapping[str, str]) -> Callable[[Mapping[str, Any], Mapping[str, str]], Row]:
    """The function a configured mapping names."""
    return basic_company_data if isinstance(mapping, str) else by_paths(mapping)
