"""Deterministic sample-data generator (stdlib only).

Produces files shaped like the two kinds of input the daemon ingests:

* the Companies House "BasicCompanyData" snapshot (55 columns, every field
  double-quoted, a literal header line with leading spaces on some names,
  optionally zipped with one CSV member of the same stem), and
* enrichment / CRM exports (26 columns, minimal quoting, awkward values).

Everything is derived from ``random.Random(seed)``: the same arguments always
give the same bytes, and the first N rows of a larger file equal the rows of an
N-row file with the same seed. Value pools are built once per call so that the
per-row work is a handful of table look-ups (well over 100k rows/s per core).
"""

import csv
import functools
import io
import math
import random
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

__all__ = [
    "COMPANIES_HOUSE_HEADER",
    "ENRICHMENT_HEADER",
    "companies_house_rows",
    "enrichment_rows",
    "write_companies_house",
    "write_enrichment",
]

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

ENRICHMENT_HEADER: list[str] = [
    "First Name", "Last Name", "Title", "Company", "Email", "Email Status",
    "Seniority", "Departments", "Mobile Phone", "Corporate Phone", "# Employees",
    "Industry", "Keywords", "Person Linkedin Url", "Website", "Company Linkedin Url",
    "City", "State", "Country", "Company Address", "Company Phone", "Company Number",
    "Annual Revenue", "Last Raised At", "Apollo Contact Id", "Apollo Account Id",
]  # fmt: skip

# Fixed "snapshot" date so that output never depends on today's date.
_SNAPSHOT = date(2024, 1, 1)
_URI_PREFIX = "http://business.data.gov.uk/id/company/"

# --------------------------------------------------------------------------
# Companies House value tables
# --------------------------------------------------------------------------

# (category, suffixes to choose from, weight)
_CATEGORIES = [
    ("Private Limited Company", (" LIMITED", " LIMITED", " LIMITED", " LTD"), 84),
    ("PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)",
     (" LIMITED",), 5),
    ("Public Limited Company", (" PLC",), 1),
    ("Limited Liability Partnership", (" LLP",), 4),
    ("Community Interest Company", (" LIMITED", " LTD"), 4),
    ("Charitable Incorporated Organisation", (" LIMITED",), 2),
]  # fmt: skip

_STATUSES = [
    ("Active", 87),
    ("Active - Proposal to Strike off", 5),
    ("Liquidation", 3),
    ("In Administration", 1),
    ("Dissolved", 4),
]

_ACCOUNT_CATEGORIES = [
    ("TOTAL EXEMPTION FULL", 30), ("MICRO ENTITY", 25), ("UNAUDITED ABRIDGED", 12),
    ("DORMANT", 10), ("TOTAL EXEMPTION SMALL", 5), ("SMALL", 5), ("FULL", 5),
    ("AUDIT EXEMPTION SUBSIDIARY", 2), ("GROUP", 2), ("MEDIUM", 1),
    ("ACCOUNTS TYPE NOT AVAILABLE", 3),
]  # fmt: skip

_SIC_CODES = [
    "70229 - Management consultancy activities other than financial management",
    "68209 - Other letting and operating of own or leased real estate",
    "62020 - Information technology consultancy activities",
    "82990 - Other business support service activities n.e.c.",
    "96090 - Other service activities n.e.c.",
    "41100 - Development of building projects",
    "47910 - Retail sale via mail order houses or via Internet",
    "56101 - Licensed restaurants",
    "99999 - Dormant Company",
    "64209 - Activities of other holding companies n.e.c.",
    "43290 - Other construction installation",
    "68100 - Buying and selling of own real estate",
    "62012 - Business and domestic software development",
    "74909 - Other professional, scientific and technical activities n.e.c.",
    "86900 - Other human health activities",
    "49410 - Freight transport by road",
    "43390 - Other building completion and finishing",
    "73110 - Advertising agencies",
    "69201 - Accounting and auditing activities",
    "85590 - Other education n.e.c.",
    "56302 - Public houses and bars",
    "45111 - Sale of new cars and light motor vehicles",
    "88990 - Other social work activities without accommodation n.e.c.",
    "93199 - Other sports activities",
    "90030 - Artistic creation",
    "46900 - Non-specialised wholesale trade",
    "47110 - Retail sale in non-specialised stores with food, beverages or tobacco predominating",
    "55100 - Hotels and similar accommodation",
    "81210 - General cleaning of buildings",
    "74100 - specialised design activities",
    "94990 - Activities of other membership organisations n.e.c.",
    "43210 - Electrical installation",
    "71129 - Other engineering activities",
    "66190 - Other activities auxiliary to financial services, except insurance and "
    "pension funding",
    "59112 - Video production activities",
]

_NAME_WORDS = [
    "ACME", "ALPHA", "APEX", "ASH", "ATLAS", "AVON", "BEACON", "BIRCH", "BLUE",
    "BRIGHT", "BRISTOL", "CASTLE", "CEDAR", "CLEAR", "COASTAL", "CORNER", "CROWN",
    "DELTA", "EAGLE", "ELM", "EMERALD", "FALCON", "FIRST", "FOX", "GOLDEN", "GRANGE",
    "GREEN", "HARBOUR", "HAWK", "HERITAGE", "HIGHLAND", "HILLSIDE", "IRON", "IVY",
    "KESTREL", "KING", "LAKESIDE", "LION", "MAPLE", "MERIDIAN", "MILL", "NORTHERN",
    "NOVA", "OAK", "OCEAN", "ORCHARD", "PARK", "PEAK", "PHOENIX", "PINE", "PRIME",
    "QUANTUM", "RAVEN", "RED", "RIVER", "ROSE", "ROYAL", "SILVER", "SOLAR", "SOUTHERN",
    "SPIRE", "STAR", "STONE", "SUMMIT", "SWIFT", "THAMES", "TITAN", "TOWER", "TRINITY",
    "UNITY", "VALLEY", "VERTEX", "VICTORIA", "VISTA", "WESTERN", "WILLOW", "WINDSOR",
    "ZENITH", "SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "EVANS",
    "PATEL", "KHAN", "AHMED", "SINGH", "MURPHY", "O'CONNOR", "CAMPBELL", "STEWART",
    "HUGHES", "WALKER", "WRIGHT", "ROBINSON", "THOMPSON", "CLARKE", "HALL", "NGUYEN",
]  # fmt: skip

_NAME_TAILS = [
    "PROPERTIES", "CONSULTING", "SERVICES", "HOLDINGS", "SOLUTIONS", "TRADING",
    "DEVELOPMENTS", "LOGISTICS", "ESTATES", "DESIGN", "MEDIA", "CARE", "BUILDING",
    "ENGINEERING", "TECHNOLOGIES", "VENTURES", "INVESTMENTS", "GROUP", "(UK)", "UK",
    "INTERNATIONAL", "MANAGEMENT", "CONSTRUCTION", "RETAIL", "CATERING", "CLEANING",
    "LEISURE", "CAPITAL", "ENERGY", "FOODS", "SYSTEMS", "STUDIO", "ASSOCIATES",
    "PARTNERS", "ELECTRICAL", "PLUMBING AND HEATING", "RECRUITMENT", "HEALTHCARE",
    "TRANSPORT", "INTERIORS", "MARKETING", "DIGITAL", "ACCOUNTANCY", "HOMES",
]  # fmt: skip

_NAME_ODD = [
    "!OBAC UK", "1ST CHOICE", "24/7", "A1", "A & B", "3D", "4 SEASONS", "123",
    "NO. 1", "M&S", "@HOME", "JUST", "THE", "-ZERO-",
]  # fmt: skip

_NAME_NON_ASCII = [
    "CAFÉ", "ZÜRICH", "MÜLLER", "SØRENSEN", "CRÈME", "BJÖRK", "NAÏVE", "FRANÇOIS",
    "SEÑOR", "GÖTEBORG", "ÉCLAIR", "RÉSUMÉ", "ÅLAND", "DÜSSELDORF",
]  # fmt: skip

_STREETS = [
    "HIGH", "STATION", "MAIN", "PARK", "CHURCH", "LONDON", "VICTORIA", "GREEN",
    "MANOR", "KINGS", "QUEENS", "MILL", "BRIDGE", "NEW", "GEORGE", "ALBERT", "YORK",
    "WEST", "NORTH", "SOUTH", "CASTLE", "MARKET", "BRAMLEY", "OXFORD", "WINDSOR",
    "GROSVENOR", "CHAPEL", "SCHOOL", "SPRINGFIELD", "BROADWAY", "ELM", "OAKWOOD",
]  # fmt: skip

_STREET_TYPES = [
    "STREET", "ROAD", "LANE", "AVENUE", "CLOSE", "DRIVE", "WAY", "PLACE", "GARDENS",
    "CRESCENT", "SQUARE", "TERRACE", "GROVE", "HILL",
]  # fmt: skip

_BUILDINGS = [
    "BERRY COURT FARM", "REGENT HOUSE", "CENTURY BUSINESS CENTRE", "KEMP HOUSE",
    "INTERNATIONAL HOUSE", "THE OLD BARN", "SUFFOLK HOUSE", "CHANCERY HOUSE",
    "LEVEL 1 DEVONSHIRE HOUSE", "ENTERPRISE PARK", "THE WORKSHOP", "ST. JAMES HOUSE",
    "RIVERSIDE INDUSTRIAL ESTATE", "TECHNOLOGY PARK", "THE COACH HOUSE",
]  # fmt: skip

_LOCALITIES = [
    "LITTLE LONDON", "CITY ROAD", "SHOREDITCH", "EDGBASTON", "HEADINGLEY",
    "CLIFTON", "KINGSWOOD", "HALE", "CHORLTON", "ST. JOHNS", "NEWTOWN", "OLD TOWN",
    "WESTBURY", "EASTGATE", "HOLBORN", "CANARY WHARF", "MAYFAIR", "BATTERSEA",
]  # fmt: skip

# (post town, county, postcode area(s) or districts, nation, weight)
_TOWNS = [
    ("LONDON", "", ("EC1V", "EC2A", "WC2H", "N1", "SW1A", "SE1", "E14", "W1F", "NW1",
                    "WC1N", "EC4M", "SW19", "E1", "N17"), "ENGLAND", 26),
    ("MANCHESTER", "GREATER MANCHESTER", ("M",), "ENGLAND", 6),
    ("BIRMINGHAM", "WEST MIDLANDS", ("B",), "ENGLAND", 6),
    ("LEEDS", "WEST YORKSHIRE", ("LS",), "ENGLAND", 4),
    ("BRISTOL", "", ("BS",), "ENGLAND", 4),
    ("TADLEY", "HAMPSHIRE", ("RG",), "ENGLAND", 1),
    ("READING", "BERKSHIRE", ("RG",), "ENGLAND", 3),
    ("CARDIFF", "SOUTH GLAMORGAN", ("CF",), "WALES", 3),
    ("SWANSEA", "WEST GLAMORGAN", ("SA",), "WALES", 1),
    ("EDINBURGH", "MIDLOTHIAN", ("EH",), "SCOTLAND", 3),
    ("GLASGOW", "", ("G",), "SCOTLAND", 3),
    ("ABERDEEN", "ABERDEENSHIRE", ("AB",), "SCOTLAND", 1),
    ("BELFAST", "COUNTY ANTRIM", ("BT",), "NORTHERN IRELAND", 2),
    ("NOTTINGHAM", "NOTTINGHAMSHIRE", ("NG",), "ENGLAND", 3),
    ("SHEFFIELD", "SOUTH YORKSHIRE", ("S",), "ENGLAND", 3),
    ("LIVERPOOL", "MERSEYSIDE", ("L",), "ENGLAND", 3),
    ("NEWCASTLE UPON TYNE", "TYNE AND WEAR", ("NE",), "ENGLAND", 2),
    ("BRIGHTON", "EAST SUSSEX", ("BN",), "ENGLAND", 2),
    ("CAMBRIDGE", "CAMBRIDGESHIRE", ("CB",), "ENGLAND", 2),
    ("OXFORD", "OXFORDSHIRE", ("OX",), "ENGLAND", 2),
    ("NORWICH", "NORFOLK", ("NR",), "ENGLAND", 1),
    ("EXETER", "DEVON", ("EX",), "ENGLAND", 1),
    ("YORK", "NORTH YORKSHIRE", ("YO",), "ENGLAND", 1),
    ("LEICESTER", "LEICESTERSHIRE", ("LE",), "ENGLAND", 2),
    ("SOUTHAMPTON", "HAMPSHIRE", ("SO",), "ENGLAND", 2),
    ("MILTON KEYNES", "BUCKINGHAMSHIRE", ("MK",), "ENGLAND", 2),
    ("CHELMSFORD", "ESSEX", ("CM",), "ENGLAND", 1),
    ("GUILDFORD", "SURREY", ("GU",), "ENGLAND", 1),
    ("ST. ALBANS", "HERTFORDSHIRE", ("AL",), "ENGLAND", 1),
    ("HARROW", "MIDDLESEX", ("HA",), "ENGLAND", 1),
    ("ILFORD", "ESSEX", ("IG",), "ENGLAND", 1),
]  # fmt: skip

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

# Company-number space. Tier 1 (the first 17M rows): SC/NI/OC + 6 digits and
# plain numbers 00100000..16099999, mixed by an affine permutation of the row
# index, so numbers are unique and look shuffled. Tier 2 (rows beyond that):
# plain numbers 16100000..99999999, again permuted. Both are bijections, and the
# two ranges are disjoint, so numbers are unique for every possible row count.
_PREFIXED = 1_000_000  # SC 0..599999, NI 600000..749999, OC 750000..999999
_TIER1_DIGITS_BASE = 100_000
_TIER1 = _PREFIXED + 16_000_000
_TIER2_BASE = _TIER1_DIGITS_BASE + 16_000_000
_TIER2 = 100_000_000 - _TIER2_BASE
_MAX_ROWS = _TIER1 + _TIER2


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
    words, tails = _NAME_WORDS, _NAME_TAILS
    if x < 0.015:  # embedded comma
        return f"{rng.choice(words)}, {rng.choice(words)} & {rng.choice(tails)}"
    if x < 0.022:  # embedded double quote
        return f'THE "{rng.choice(words)}" {rng.choice(tails)}'
    if x < 0.04:  # non-ASCII
        return f"{rng.choice(_NAME_NON_ASCII)} {rng.choice(tails)}"
    if x < 0.08:
        return f"{rng.choice(_NAME_ODD)} {rng.choice(tails)}"
    if x < 0.18:
        return rng.choice(words)
    if x < 0.38:
        sep = " & " if rng.random() < 0.3 else " "
        return f"{rng.choice(words)}{sep}{rng.choice(words)} {rng.choice(tails)}"
    return f"{rng.choice(words)} {rng.choice(tails)}"


def _address(rng: random.Random) -> tuple[str, str, str, str]:
    care_of = ""
    if rng.random() < 0.03:
        care_of = f"C/O {rng.choice(_NAME_WORDS)} {rng.choice(['ACCOUNTANTS', 'LLP', '& CO'])}"
    po_box = f"PO BOX {rng.randint(1, 9999)}" if rng.random() < 0.01 else ""
    street = f"{rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
    x = rng.random()
    if x < 0.45:
        line1 = f"{rng.randint(1, 250)} {street}"
    elif x < 0.65:
        line1 = f"UNIT {rng.randint(1, 40)} {rng.choice(_BUILDINGS)} {street}"
    elif x < 0.8:
        line1 = f"FLAT {rng.randint(1, 60)}, {rng.randint(1, 250)} {street}"
    elif x < 0.9:
        line1 = f"{rng.choice(_BUILDINGS)}"
    else:
        line1 = f"SUITE {rng.randint(1, 500)} {rng.choice(_BUILDINGS)}"
    y = rng.random()
    if y < 0.35:
        line2 = rng.choice(_LOCALITIES)
    elif y < 0.55:
        line2 = f"{rng.randint(1, 250)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
    else:
        line2 = ""
    return (care_of, po_box, line1, line2)


def _locality(rng: random.Random) -> tuple[str, str, str, str]:
    town, county, areas, nation, _ = _weighted(rng, _TOWNS)
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
        sic = ("None Supplied", "", "", "")
    else:
        n = 1 if x < 0.8 else 2 if x < 0.94 else 3 if x < 0.98 else 4
        codes = rng.sample(_SIC_CODES, n)
        sic = tuple(codes) + ("",) * (4 - n)
    partners = ("0", "0") if rng.random() < 0.995 else (str(rng.randint(1, 3)), str(rng.randint(0, 25)))
    return mort + sic + partners


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _lifecycle(rng: random.Random, stems: tuple[str, ...]) -> tuple[str, tuple, tuple]:
    category, suffixes, _ = _weighted(rng, _CATEGORIES)
    suffix = rng.choice(suffixes)
    status = _weighted(rng, _STATUSES)[0]
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
        acc_cat = _weighted(rng, _ACCOUNT_CATEGORIES)[0]

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


def _coprime_step(rng: random.Random, modulus: int) -> int:
    step = int(modulus * 0.6180339887) + rng.randrange(1000)
    while math.gcd(step, modulus) != 1:
        step += 1
    return step


def _number_params(rng: random.Random) -> tuple[int, int, int, int]:
    return (
        _coprime_step(rng, _TIER1), rng.randrange(_TIER1),
        _coprime_step(rng, _TIER2), rng.randrange(_TIER2),
    )  # fmt: skip


def _company_numbers(params: tuple[int, int, int, int], start: int, stop: int) -> Iterator[str]:
    """Yield the company numbers of row indexes ``start``..``stop - 1`` (all unique)."""
    if not 0 <= start <= stop <= _MAX_ROWS:
        raise ValueError(f"row indexes must lie within 0..{_MAX_ROWS}")
    a1, b1, a2, b2 = params
    i = start
    end1 = min(stop, _TIER1)
    if i < end1:
        p = (a1 * i + b1) % _TIER1
        digits_offset = _TIER1_DIGITS_BASE - _PREFIXED
        for _ in range(end1 - i):
            if p >= _PREFIXED:
                yield f"{p + digits_offset:08d}"
            elif p < 600_000:
                yield f"SC{p:06d}"
            elif p < 750_000:
                yield f"NI{p - 600_000:06d}"
            else:
                yield f"OC{p - 750_000:06d}"
            p += a1
            if p >= _TIER1:
                p -= _TIER1
        i = end1
    if i < stop:
        q = (a2 * (i - _TIER1) + b2) % _TIER2
        for _ in range(stop - i):
            yield f"{q + _TIER2_BASE:08d}"
            q += a2
            if q >= _TIER2:
                q -= _TIER2


def _check_rows(rows: int) -> None:
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        raise ValueError(f"rows must be a non-negative int, got {rows!r}")


def companies_house_rows(rows: int, seed: int = 0) -> Iterator[list[str]]:
    """Yield `rows` data rows (55 str values each) shaped like the real snapshot."""
    _check_rows(rows)
    if rows > _MAX_ROWS:
        raise ValueError(f"at most {_MAX_ROWS} rows have unique 8-character numbers")
    return _companies_house_rows(rows, seed)


@functools.lru_cache(maxsize=4)
def _companies_house_pools(seed: int) -> tuple:
    """Build the per-seed value pools (~0.1 s) once; also return the RNG state after."""
    rng = random.Random(seed)
    params = _number_params(rng)
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
    numbers = _company_numbers(params, 0, rows)

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
    path = Path(path)
    if zipped is None:
        zipped = path.suffix.lower() == ".zip"
    data = companies_house_rows(rows, seed)  # validates before touching the file
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


# --------------------------------------------------------------------------
# Enrichment exports
# --------------------------------------------------------------------------

# All values below are encodable in Windows-1252 as well as UTF-8.
# (display, ascii form for e-mails / URLs)
_FIRST_NAMES = [
    ("James", "james"), ("Olivia", "olivia"), ("Mohammed", "mohammed"),
    ("Amelia", "amelia"), ("Oliver", "oliver"), ("Isla", "isla"), ("Harry", "harry"),
    ("Priya", "priya"), ("Jack", "jack"), ("Sophie", "sophie"), ("Daniel", "daniel"),
    ("Emily", "emily"), ("Thomas", "thomas"), ("Grace", "grace"), ("Wei", "wei"),
    ("Aisha", "aisha"), ("Liam", "liam"), ("Chloé", "chloe"), ("José", "jose"),
    ("Zoë", "zoe"), ("Søren", "soren"), ("François", "francois"), ("Jürgen", "jurgen"),
    ("Siobhán", "siobhan"), ("Björn", "bjorn"), ("Renée", "renee"), ("Ana", "ana"),
    ("Lucas", "lucas"), ("Mia", "mia"), ("Noah", "noah"), ("Fatima", "fatima"),
    ("Rahul", "rahul"), ("Sarah", "sarah"), ("Michael", "michael"), ("Laura", "laura"),
]  # fmt: skip

_LAST_NAMES = [
    ("Smith", "smith"), ("Jones", "jones"), ("Taylor", "taylor"), ("Brown", "brown"),
    ("Williams", "williams"), ("Patel", "patel"), ("Khan", "khan"), ("O'Brien", "obrien"),
    ("Müller", "muller"), ("García", "garcia"), ("Núñez", "nunez"),
    ("Smith-Jones", "smith-jones"), ("van der Berg", "vanderberg"), ("Nguyen", "nguyen"),
    ("Dubois", "dubois"), ("Rossi", "rossi"), ("Kowalski", "kowalski"),
    ("Andersson", "andersson"), ("Murphy", "murphy"), ("Chen", "chen"),
    ("Okafor", "okafor"), ("Schäfer", "schafer"), ("Lefèvre", "lefevre"),
    ("Walker", "walker"), ("Evans", "evans"), ("Wright", "wright"), ("Singh", "singh"),
]  # fmt: skip

# (title, seniority, departments)
_TITLES = [
    ("Chief Executive Officer", "c_suite", "C-Suite"),
    ("Founder & CEO", "founder", "C-Suite, Entrepreneurship"),
    ("Co-Founder", "founder", "Entrepreneurship"),
    ("Managing Director", "c_suite", "C-Suite"),
    ("Chief Technology Officer", "c_suite", "C-Suite, Engineering & Technical"),
    ("VP Engineering", "vp", "Engineering & Technical"),
    ("Head of Marketing", "head", "Marketing"),
    ('Head of "Growth"', "head", "Marketing"),
    ("Director, Sales & Partnerships", "director", "Sales"),
    ("Finance Director", "director", "Finance"),
    ("Office Manager", "manager", "Operations"),
    ("HR Manager", "manager", "Human Resources"),
    ("Senior Data Analyst", "senior", "Data Science"),
    ("Software Engineer", "entry", "Engineering & Technical"),
    ("Account Executive", "entry", "Sales"),
    ("Managing Partner", "partner", "C-Suite, Legal"),
    ("Owner", "owner", "C-Suite"),
    ("Procurement Lead", "senior", "Operations, Finance"),
    ("Directeur Général", "c_suite", "C-Suite"),
    ("Geschäftsführer", "c_suite", "C-Suite"),
]  # fmt: skip

_EMAIL_STATUSES = ["Verified"] * 6 + ["Unverified", "Likely to engage", "Unavailable", ""]

_INDUSTRIES = [
    "information technology & services", "management consulting", "computer software",
    "marketing & advertising", "financial services", "real estate", "construction",
    "hospitality", "retail", "staffing & recruiting", "food & beverages",
    "logistics & supply chain", "hospital & health care", "architecture & planning",
]  # fmt: skip

_KEYWORDS = [
    "saas", "b2b", "cloud", "analytics", "crm", "consulting", "e-commerce", "fintech",
    "payments", "logistics", "recruitment", "marketing automation", "ai",
    "machine learning", "property management", "construction", "hospitality",
    "sustainability", "cybersecurity", "data platform", "managed services",
]  # fmt: skip

# (city, state, country)
_PLACES = [
    ("London", "England", "United Kingdom"), ("Manchester", "England", "United Kingdom"),
    ("Edinburgh", "Scotland", "United Kingdom"), ("Cardiff", "Wales", "United Kingdom"),
    ("Belfast", "Northern Ireland", "United Kingdom"), ("Leeds", "England", "United Kingdom"),
    ("Dublin", "County Dublin", "Ireland"), ("München", "Bavaria", "Germany"),
    ("Zürich", "Zurich", "Switzerland"), ("Paris", "Île-de-France", "France"),
    ("New York", "New York", "United States"), ("São Paulo", "Sao Paulo", "Brazil"),
    ("Kraków", "Lesser Poland", "Poland"), ("Malmö", "Skåne", "Sweden"),
    ("Amsterdam", "North Holland", "Netherlands"), ("Austin", "Texas", "United States"),
]  # fmt: skip

_COMPANY_WORDS = [
    "Acme", "Brightwave", "Northwind", "Bluebird", "Kestrel", "Lumen", "Orbital",
    "Pinecrest", "Quantive", "Riverstone", "Sable", "Tandem", "Umbra", "Vantage",
    "Wildflower", "Zephyr", "Harbour", "Meridian", "Copperleaf", "Greystone",
]  # fmt: skip

_COMPANY_TAILS = [
    "Ltd", "Limited", "Group", "Labs", "Consulting", "Partners", "Digital", "Software",
    "Solutions", "Analytics", "Technologies", "& Co", "GmbH", "SAS", "Inc.", "LLP",
]  # fmt: skip


def _phone(rng: random.Random, mobile: bool) -> str:
    n = rng.randint(100000, 999999)
    if mobile:
        return rng.choice([
            f"+44 7700 {n}", f"07700 {n}", f"+447700{n}", f"0044770{n}",
            f"+44 7{rng.randint(100, 999)} {n}", f"+1 415-555-{n % 10000:04d}", "",
            f"'+44 7700 {n}",
        ])  # fmt: skip
    return rng.choice([
        f"+44 20 {n // 100:04d} {n % 10000:04d}", f"00441234 {n}", "00441234", "", "N/A",
        f"0{rng.randint(1200, 1999)} {n}", f"+44 (0)161 {n}", f"+49 89 {n}",
    ])  # fmt: skip


def _enrichment_company(rng: random.Random, index: int) -> tuple[str, ...]:
    word = rng.choice(_COMPANY_WORDS)
    tail = rng.choice(_COMPANY_TAILS)
    x = rng.random()
    if x < 0.1:
        other = rng.choice(_COMPANY_WORDS)
        name = f"{word}, {other} & Partners"
        slug = f"{word}{other}".lower()
    elif x < 0.15:
        name = f'The "{word}" Company'
        slug = f"the{word}co".lower()
    elif x < 0.22:
        name = rng.choice(["Café Zürich", "Crème de la Crème", "Müller & Söhne", "Señor Taco"])
        name = f"{name} {tail}"
        slug = f"{word.lower()}-{index}"
    else:
        name = f"{word} {tail}"
        slug = f"{word}{tail}".lower().replace(" ", "").replace("&", "and").replace(".", "")
    domain = f"{slug}.{rng.choice(['com', 'co.uk', 'io', 'de', 'net'])}"
    size = rng.choice([
        "12", "45", "8", "230", "1,200", "3,450", "N/A", "-", "", "75", "12,000", "500",
    ])  # fmt: skip
    keywords = ", ".join(rng.sample(_KEYWORDS, rng.randint(0, 6)))
    if keywords and rng.random() < 0.1:
        keywords += "\n" + ", ".join(rng.sample(_KEYWORDS, 2))
    city, state, country = rng.choice(_PLACES)
    address = ""
    if rng.random() < 0.7:
        street = f"{rng.randint(1, 300)} {rng.choice(['High Street', 'Canada Square', 'Main St'])}"
        address = f"{street}, {city}, {country}"
    number = ""
    if country == "United Kingdom" and rng.random() < 0.6:
        number = f"{rng.randint(100000, 15000000):08d}" if rng.random() < 0.9 else f"SC{rng.randint(0, 999999):06d}"
    revenue = rng.choice([
        "", "N/A", f"{rng.randint(1, 900) * 100000}", f"{rng.randint(1, 90) * 1000000}.0",
        f"{rng.randint(1, 999)},{rng.randint(0, 999):03d},000", "-",
    ])  # fmt: skip
    raised = ""
    if rng.random() < 0.25:
        raised = (date(2015, 1, 1) + timedelta(days=rng.randint(0, 3200))).isoformat()
    account_id = f"{rng.randint(0x5A000000, 0x65FFFFFF):08x}{rng.getrandbits(64):016x}"
    return (
        name, domain, slug, size, rng.choice(_INDUSTRIES), keywords, city, state, country,
        address, _phone(rng, False), number, revenue, raised, account_id,
    )  # fmt: skip


def enrichment_rows(rows: int, seed: int = 0) -> Iterator[list[str]]:
    """Yield `rows` enrichment-export rows (26 str values each, cp1252-safe)."""
    _check_rows(rows)
    return _enrichment_rows(rows, seed)


def _enrichment_rows(rows: int, seed: int) -> Iterator[list[str]]:
    rng = random.Random(seed)
    companies = [_enrichment_company(rng, i) for i in range(512)]
    firsts, lasts, titles = _FIRST_NAMES, _LAST_NAMES, _TITLES
    choice, rand, getrandbits = rng.choice, rng.random, rng.getrandbits
    contact_base = rng.randint(0x5E000000, 0x64FFFFFF)
    contact_mid = rng.getrandbits(40)
    for i in range(rows):
        first, first_ascii = choice(firsts)
        last, last_ascii = choice(lasts)
        title, seniority, departments = choice(titles)
        (company, domain, slug, size, industry, keywords, city, state, country, address,
         company_phone, number, revenue, raised, account_id) = choice(companies)  # fmt: skip
        status = choice(_EMAIL_STATUSES)
        if status == "Unavailable":
            email = ""
        elif rand() < 0.7:
            email = f"{first_ascii}.{last_ascii}@{domain}"
        else:
            email = f"{first_ascii[0]}{last_ascii}@{domain}"
        if rand() < 0.3:
            city, state, country = choice(_PLACES)
        tag = getrandbits(24)
        yield [
            first, last, title, company, email, status, seniority, departments,
            _phone(rng, True), company_phone if rand() < 0.5 else _phone(rng, False),
            size, industry, keywords,
            f"http://www.linkedin.com/in/{first_ascii}-{last_ascii}-{tag:06x}",
            f"http://www.{domain}", f"http://www.linkedin.com/company/{slug}",
            city, state, country, address, company_phone, number, revenue, raised,
            f"{contact_base + (i >> 24):08x}{contact_mid:010x}{i & 0xFFFFFF:06x}",
            account_id,
        ]  # fmt: skip


def write_enrichment(
    path: str | Path,
    rows: int,
    seed: int = 0,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    line_ending: str = "\n",
) -> Path:
    """Write an enrichment-export CSV (header + rows, csv.QUOTE_MINIMAL).

    Use ``encoding="utf-8-sig"`` for a BOM, ``"cp1252"`` for Windows exports and
    ``delimiter=";"`` for continental spreadsheets. Returns ``path`` as a Path.
    """
    path = Path(path)
    data = enrichment_rows(rows, seed)
    with open(path, "w", encoding=encoding, newline="", buffering=1 << 20) as out:
        writer = csv.writer(
            out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator=line_ending
        )
        writer.writerow(ENRICHMENT_HEADER)
        writer.writerows(data)
    return path
