"""Enrichment / CRM exports for the demo, tests and benchmark (stdlib only): 26 columns,
minimal quoting, awkward values (accents, apostrophes, `+44` phones, empty e-mails).

Everything is derived from ``random.Random(seed)``: the same arguments always give the
same bytes, and the first N rows of a larger file equal the rows of an N-row file with the
same seed (see `monitor.demo.companies_house` for the snapshot).
"""

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from monitor.demo.companies_house import check_rows

__all__ = ["ENRICHMENT_HEADER", "enrichment_rows", "write_enrichment"]

ENRICHMENT_HEADER: list[str] = [
    "First Name", "Last Name", "Title", "Company", "Email", "Email Status",
    "Seniority", "Departments", "Mobile Phone", "Corporate Phone", "# Employees",
    "Industry", "Keywords", "Person Linkedin Url", "Website", "Company Linkedin Url",
    "City", "State", "Country", "Company Address", "Company Phone", "Company Number",
    "Annual Revenue", "Last Raised At", "Apollo Contact Id", "Apollo Account Id",
]  # fmt: skip


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
    check_rows(rows)
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
