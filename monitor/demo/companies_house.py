"""The Companies House snapshot for the demo, tests and benchmark (stdlib only).

Produces files shaped like the two kinds of input the daemon ingests:

* the Companies House "BasicCompanyData" snapshot (55 columns, every field
  double-quoted, a literal header line with leading spaces on some names,
  optionally zipped with one CSV member of the same stem), and
* (in `monitor.demo.enrichment`) enrichment / CRM exports.

Everything is derived from ``random.Random(seed)``: the same arguments always
give the same bytes, and the first N rows of a larger file equal the rows of an
N-row file with the same seed. Value pools are built once per call so that the
per-row work is a handful of table look-ups (well over 100k rows/s per core).
"""

import csv
import functools
import io
import random
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from monitor.demo.ch_numbers import MAX_ROWS, company_numbers, number_params
from monitor.demo.ch_values import (
    ACCOUNT_CATEGORIES,
    BUILDINGS,
    CATEGORIES,
    LOCALITIES,
    NAME_NON_ASCII,
    NAME_ODD,
    NAME_TAILS,
    NAME_WORDS,
    SIC_CODES,
    STATUSES,
    STREET_TYPES,
    STREETS,
    TOWNS,
)

__all__ = ["COMPANIES_HOUSE_HEADER", "check_rows", "companies_house_rows", "write_ch_rows", "write_companies_house"]

# The header line exactly as it appears in the real file (not quoted, some names
# carry a leading space).
_CH_HEADER_LINE = (
    "CompanyName, CompanyNumber,RegAddress.CareOf,RegAddress.POBox,"
    "RegAddress.AddressLine1, RegAddress.AddressLine2,RegAddress.PostTown,"
    "RegAddress.County,RegAddress.Country,RegAddress.PostCode,CompanyCategory,"
    "CompanyStatus,CountryOfOrigin,DissolutionDate,IncorporationDate,"
    "Accounts.AccountRefDay,Accounts.AccountRefMonth,Accounts.NextDueDate,"
    "Accounts.LastMadeUpDate,Accounts.AccountCategory,Returns.NextDueDate,"
    "Returns.LastMadeUpDate,Mortgages.NumMortCharges,Mortgages.NumMortOutstanding,"
    "Mortgages.NumMortPartSatisfied,Mortgages.NumMortSatisfied,SICCode.SicText_1,"
    "SICCode.SicText_2,SICCode.SicText_3,SICCode.SicText_4,"
    "LimitedPartnerships.NumGenPartners,LimitedPartnerships.NumLimPartners,URI,"
    "PreviousName_1.CONDATE, PreviousName_1.CompanyName, PreviousName_2.CONDATE,"
    " PreviousName_2.CompanyName,PreviousName_3.CONDATE, PreviousName_3.CompanyName,"
    "PreviousName_4.CONDATE, PreviousName_4.CompanyName,PreviousName_5.CONDATE,"
    " PreviousName_5.CompanyName,PreviousName_6.CONDATE, PreviousName_6.CompanyName,"
    "PreviousName_7.CONDATE, PreviousName_7.CompanyName,PreviousName_8.CONDATE,"
    " PreviousName_8.CompanyName,PreviousName_9.CONDATE, PreviousName_9.CompanyName,"
    "PreviousName_10.CONDATE, PreviousName_10.CompanyName,ConfStmtNextDueDate,"
    " ConfStmtLastMadeUpDate"
)

COMPANIES_HOUSE_HEADER: list[str] = _CH_HEADER_LINE.split(",")


# Fixed "snapshot" date so that output never depends on today's date.
_SNAPSHOT = date(2024, 1, 1)
_URI_PREFIX = "http://business.data.gov.uk/id/company/"


_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EMPTY_PREVIOUS = ("",) * 20

# Pool sizes are powers of two so a row can pick from them by slicing bits off a
# single getrandbits() call.
_STEM_BITS = 13
_LIFE_BITS = 12
_ADDR_BITS = 12
_LOC_BITS = 12
_FIN_BITS = 12

def _fmt(d: date) -> str:
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def _weighted(rng: random.Random, table: list) -> tuple:
    return rng.choices(table, weights=[t[-1] for t in table])[0]


def _postcode(rng: random.Random, areas: tuple[str, ...]) -> str:
    area = rng.choice(areas)
    if area.isalpha():  # "RG"/"M" are areas needing a district; "EC1V"/"N1" are not
        area += str(rng.randint(1, 40) if rng.random() < 0.8 else rng.randint(1, 9))
    letters = _POSTCODE_LETTERS
    return f"{area} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"


def _name_stem(rng: random.Random) -> str:
    x = rng.random()
    words, tails = NAME_WORDS, NAME_TAILS
    if x < 0.015:  # embedded comma
        return f"{rng.choice(words)}, {rng.choice(words)} & {rng.choice(tails)}"
    if x < 0.022:  # embedded double quote
        return f'THE "{rng.choice(words)}" {rng.choice(tails)}'
    if x < 0.04:  # non-ASCII
        return f"{rng.choice(NAME_NON_ASCII)} {rng.choice(tails)}"
    if x < 0.08:
        return f"{rng.choice(NAME_ODD)} {rng.choice(tails)}"
    if x < 0.18:
        return rng.choice(words)
    if x < 0.38:
        sep = " & " if rng.random() < 0.3 else " "
        return f"{rng.choice(words)}{sep}{rng.choice(words)} {rng.choice(tails)}"
    return f"{rng.choice(words)} {rng.choice(tails)}"


def _address(rng: random.Random) -> tuple[str, str, str, str]:
    care_of = ""
    if rng.random() < 0.03:
        care_of = f"C/O {rng.choice(NAME_WORDS)} {rng.choice(['ACCOUNTANTS', 'LLP', '& CO'])}"
    po_box = f"PO BOX {rng.randint(1, 9999)}" if rng.random() < 0.01 else ""
    street = f"{rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    x = rng.random()
    if x < 0.45:
        line1 = f"{rng.randint(1, 250)} {street}"
    elif x < 0.65:
        line1 = f"UNIT {rng.randint(1, 40)} {rng.choice(BUILDINGS)} {street}"
    elif x < 0.8:
        line1 = f"FLAT {rng.randint(1, 60)}, {rng.randint(1, 250)} {street}"
    elif x < 0.9:
        line1 = f"{rng.choice(BUILDINGS)}"
    else:
        line1 = f"SUITE {rng.randint(1, 500)} {rng.choice(BUILDINGS)}"
    y = rng.random()
    if y < 0.35:
        line2 = rng.choice(LOCALITIES)
    elif y < 0.55:
        line2 = f"{rng.randint(1, 250)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    else:
        line2 = ""
    return (care_of, po_box, line1, line2)


def _locality(rng: random.Random) -> tuple[str, str, str, str]:
    town, county, areas, nation, _ = _weighted(rng, TOWNS)
    if rng.random() < 0.3:
        county = ""
    x = rng.random()
    country = "" if x < 0.35 else ("UNITED KINGDOM" if x < 0.65 else nation)
    return (town, county, country, _postcode(rng, areas))


def _financial(rng: random.Random) -> tuple[str, ...]:
    if rng.random() < 0.8:
        mort = ("0", "0", "0", "0")
    else:
        charges = 1 + min(int(rng.expovariate(0.6)), 40)
        outstanding = rng.randint(0, charges)
        part = 1 if rng.random() < 0.03 and outstanding < charges else 0
        mort = (str(charges), str(outstanding), str(part), str(charges - outstanding - part))
    x = rng.random()
    if x < 0.02:
        sic: tuple[str, ...] = ("None Supplied", "", "", "")
    else:
        n = 1 if x < 0.8 else 2 if x < 0.94 else 3 if x < 0.98 else 4
        codes = rng.sample(SIC_CODES, n)
        sic = tuple(codes) + ("",) * (4 - n)
    partners = ("0", "0") if rng.random() < 0.995 else (str(rng.randint(1, 3)), str(rng.randint(0, 25)))
    return mort + sic + partners


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _lifecycle(rng: random.Random, stems: tuple[str, ...]) -> tuple[str, tuple, tuple]:
    category, suffixes, _ = _weighted(rng, CATEGORIES)
    suffix = rng.choice(suffixes)
    status = _weighted(rng, STATUSES)[0]
    inc = _SNAPSHOT - timedelta(days=1 + min(int(rng.expovariate(1 / 2800)), 27000))

    dissolved = ""
    horizon = _SNAPSHOT  # dates are derived as of this day
    if status == "Dissolved":
        span = (_SNAPSHOT - inc).days
        horizon = inc + timedelta(days=rng.randint(min(365, span - 1), span - 1))
        dissolved = _fmt(horizon)

    # Accounting reference date: usually the month-end before the anniversary.
    if rng.random() < 0.7:
        arm = inc.month - 1 or 12
        ard = _DAYS_IN_MONTH[arm - 1]
    else:
        ard, arm = rng.choice([(31, 12), (31, 3), (30, 6), (30, 9), (31, 1)])
    filed_by = horizon - timedelta(days=rng.randint(200, 300))
    last_made_up = None
    year = filed_by.year
    while year >= inc.year:
        candidate = date(year, arm, ard)
        if candidate <= filed_by:
            last_made_up = candidate
            break
        year -= 1
    if last_made_up is not None and last_made_up < inc + timedelta(days=180):
        last_made_up = None
    if last_made_up is None:
        acc_last = ""
        acc_next = _fmt(inc + timedelta(days=640))
        acc_cat = "NO ACCOUNTS FILED"
    else:
        acc_last = _fmt(last_made_up)
        acc_next = _fmt(_add_years(last_made_up, 1) + timedelta(days=274))
        acc_cat = _weighted(rng, ACCOUNT_CATEGORIES)[0]

    # Annual returns stopped in June 2016 (replaced by confirmation statements).
    ret_next = ret_last = ""
    returns_end = date(2016, 6, 30)
    returns_until = min(returns_end, horizon)
    if inc < returns_until - timedelta(days=365):
        last_return = _add_years(inc, returns_until.year - inc.year)
        if last_return > returns_until:
            last_return = _add_years(last_return, -1)
        ret_last = _fmt(last_return)
        ret_next = _fmt(_add_years(last_return, 1) + timedelta(days=28))

    conf_last_d = _add_years(inc, horizon.year - inc.year)
    if conf_last_d > horizon - timedelta(days=14):
        conf_last_d = _add_years(conf_last_d, -1)
    if conf_last_d <= inc or conf_last_d < returns_end:
        conf_last = ""
        conf_next = _fmt(_add_years(inc, 1) + timedelta(days=14))
    else:
        conf_last = _fmt(conf_last_d)
        conf_next = _fmt(_add_years(conf_last_d, 1) + timedelta(days=14))

    x = rng.random()
    n_prev = 0 if x < 0.88 else 1 if x < 0.98 else 2
    if n_prev:
        span = max((_SNAPSHOT - inc).days - 1, 1)
        changes = sorted((rng.randint(1, span) for _ in range(n_prev)), reverse=True)
        previous: list[str] = []
        for offset in changes:
            previous += [_fmt(inc + timedelta(days=offset)), rng.choice(stems) + suffix]
        previous += [""] * (20 - len(previous))
        prev = tuple(previous)
    else:
        prev = _EMPTY_PREVIOUS

    mid = (
        category, status, "United Kingdom", dissolved, _fmt(inc), str(ard), str(arm),
        acc_next, acc_last, acc_cat, ret_next, ret_last,
    )  # fmt: skip
    return (suffix, mid, (*prev, conf_next, conf_last))


def check_rows(rows: int) -> None:
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise ValueError(f"rows must be a non-negative int, got {rows!r}")


def companies_house_rows(rows: int, seed: int = 0) -> Iterator[list[str]]:
    """Yield `rows` data rows (55 str values each) shaped like the real snapshot."""
    check_rows(rows)
    if rows > MAX_ROWS:
        raise ValueError(f"at most {MAX_ROWS} rows have unique 8-character numbers")
    return _companies_house_rows(rows, seed)


@functools.lru_cache(maxsize=4)
def _companies_house_pools(seed: int) -> tuple:
    """Build the per-seed value pools (~0.1 s) once; also return the RNG state after."""
    rng = random.Random(seed)
    params = number_params(rng)
    stems = tuple(_name_stem(rng) for _ in range(1 << _STEM_BITS))
    lives = tuple(_lifecycle(rng, stems) for _ in range(1 << _LIFE_BITS))
    addresses = tuple(_address(rng) for _ in range(1 << _ADDR_BITS))
    localities = tuple(_locality(rng) for _ in range(1 << _LOC_BITS))
    financials = tuple(_financial(rng) for _ in range(1 << _FIN_BITS))
    return params, stems, lives, addresses, localities, financials, rng.getstate()


def _companies_house_rows(rows: int, seed: int) -> Iterator[list[str]]:
    params, stems, lives, addresses, localities, financials, state = _companies_house_pools(seed)
    rng = random.Random()
    rng.setstate(state)
    numbers = company_numbers(params, 0, rows)

    getrandbits = rng.getrandbits
    total_bits = _STEM_BITS + _LIFE_BITS + _ADDR_BITS + _LOC_BITS + _FIN_BITS
    s_mask, l_mask = (1 << _STEM_BITS) - 1, (1 << _LIFE_BITS) - 1
    a_mask, c_mask = (1 << _ADDR_BITS) - 1, (1 << _LOC_BITS) - 1
    s_shift = _LIFE_BITS
    a_shift = s_shift + _STEM_BITS
    c_shift = a_shift + _ADDR_BITS
    f_shift = c_shift + _LOC_BITS
    uri = _URI_PREFIX
    for number in numbers:
        r = getrandbits(total_bits)
        suffix, mid, tail = lives[r & l_mask]
        yield [
            stems[(r >> s_shift) & s_mask] + suffix,
            number,
            *addresses[(r >> a_shift) & a_mask],
            *localities[(r >> c_shift) & c_mask],
            *mid,
            *financials[r >> f_shift],
            uri + number,
            *tail,
        ]


def write_companies_house(
    path: str | Path,
    rows: int,
    seed: int = 0,
    *,
    zipped: bool | None = None,
    line_ending: str = "\r\n",
) -> Path:
    """Write a Companies House CSV (or a .zip holding one CSV of the same stem).

    Data fields are all double-quoted; the header line is written literally as in
    the real file (unquoted, with leading spaces on some names). ``zipped``
    defaults to ``path`` ending in ``.zip``; the zip is written streaming (ZIP64),
    so any row count works in bounded memory. Returns ``path`` as a Path.
    """
    data = companies_house_rows(rows, seed)  # validates before touching the file
    return write_ch_rows(path, data, zipped=zipped, line_ending=line_ending)


def write_ch_rows(path: str | Path, data: Iterator[list[str]], *, zipped: bool | None = None,
                  line_ending: str = "\r\n") -> Path:
    """Write given rows as a Companies House file (see `write_companies_house`)."""
    path = Path(path)
    if zipped is None:
        zipped = path.suffix.lower() == ".zip"
    if zipped:
        member = path.stem if path.stem.lower().endswith(".csv") else path.stem + ".csv"
        with (
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
            zf.open(member, "w", force_zip64=True) as raw,
            io.TextIOWrapper(io.BufferedWriter(raw, 1 << 20), encoding="utf-8", newline="") as out,
        ):
            _write_ch(out, data, line_ending)
    else:
        with open(path, "w", encoding="utf-8", newline="", buffering=1 << 20) as out:
            _write_ch(out, data, line_ending)
    return path


def _write_ch(out: io.TextIOBase, data: Iterator[list[str]], line_ending: str) -> None:
    out.write(_CH_HEADER_LINE + line_ending)
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator=line_ending).writerows(data)


