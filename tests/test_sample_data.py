"""Tests for monitor.demo (sample data) (real files in tmp_path, no mocks)."""

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest

from monitor import demo as sd
from monitor.demo import ch_numbers as numbers_of

REFERENCE = Path("/work/shared/reference/companies-house-basic.md")
CH_NUMBER = re.compile(r"(?:\d{8}|(?:SC|NI|OC)\d{6})")
DATE = re.compile(r"\d{2}/\d{2}/\d{4}")
ENRICHMENT_HEADER_LINE = (
    "First Name,Last Name,Title,Company,Email,Email Status,Seniority,Departments,"
    "Mobile Phone,Corporate Phone,# Employees,Industry,Keywords,Person Linkedin Url,"
    "Website,Company Linkedin Url,City,State,Country,Company Address,Company Phone,"
    "Company Number,Annual Revenue,Last Raised At,Apollo Contact Id,Apollo Account Id"
)


def read_csv(path: Path, **kwargs) -> list[list[str]]:
    encoding = kwargs.pop("encoding", "utf-8")
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.reader(f, **kwargs))


# --------------------------------------------------------------------------- header


def test_companies_house_header_names():
    header = sd.COMPANIES_HOUSE_HEADER
    assert len(header) == 55
    assert len(set(header)) == 55
    assert header[0] == "CompanyName"
    assert header[1] == " CompanyNumber"
    assert header[5] == " RegAddress.AddressLine2"
    assert header[34] == " PreviousName_1.CompanyName"
    assert header[-1] == " ConfStmtLastMadeUpDate"
    assert header[32] == "URI"
    assert sum(name.startswith(" ") for name in header) == 14


def test_companies_house_header_matches_reference():
    if not REFERENCE.exists():
        pytest.skip("reference document not available")
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    line = next(x for x in lines if x.startswith("CompanyName,"))
    assert line.split(",") == sd.COMPANIES_HOUSE_HEADER


def test_enrichment_header():
    assert ENRICHMENT_HEADER_LINE.split(",") == sd.ENRICHMENT_HEADER
    assert len(sd.ENRICHMENT_HEADER) == 26


def test_header_line_written_literally(tmp_path):
    path = sd.write_companies_house(tmp_path / "ch.csv", 3)
    first_line = path.read_bytes().split(b"\r\n", 1)[0]
    assert first_line == ",".join(sd.COMPANIES_HOUSE_HEADER).encode()
    assert read_csv(path)[0] == sd.COMPANIES_HOUSE_HEADER


# --------------------------------------------------------------------------- rows


def test_rows_shape_and_values():
    rows = list(sd.companies_house_rows(3000, seed=5))
    assert len(rows) == 3000
    header = [name.strip() for name in sd.COMPANIES_HOUSE_HEADER]
    col = {name: i for i, name in enumerate(header)}
    for row in rows:
        assert len(row) == 55
        assert all(isinstance(v, str) for v in row)
        assert row[col["CompanyName"]].endswith((" LIMITED", " LTD", " LLP", " PLC"))
        assert row[col["CountryOfOrigin"]] == "United Kingdom"
        assert row[col["URI"]] == (
            "http://business.data.gov.uk/id/company/" + row[col["CompanyNumber"]]
        )
        assert row[col["SICCode.SicText_1"]]
        for name in header:
            if name.endswith(("Date", "CONDATE")) and row[col[name]]:
                assert DATE.fullmatch(row[col[name]]), (name, row[col[name]])
        for name in header:
            if name.startswith(("Mortgages.", "LimitedPartnerships.")):
                assert row[col[name]].isdigit()
        assert 1 <= int(row[col["Accounts.AccountRefDay"]]) <= 31
        assert 1 <= int(row[col["Accounts.AccountRefMonth"]]) <= 12
    statuses = {r[col["CompanyStatus"]] for r in rows}
    assert statuses <= {
        "Active", "Dissolved", "Liquidation", "Active - Proposal to Strike off",
        "In Administration",
    }  # fmt: skip
    assert "Active" in statuses and len(statuses) >= 4
    categories = {r[col["CompanyCategory"]] for r in rows}
    assert "Private Limited Company" in categories and len(categories) >= 5
    # Sometimes non-ASCII, sometimes a previous name, other SIC columns often empty.
    assert any(not r[0].isascii() for r in rows)
    assert any(r[col["PreviousName_1.CompanyName"]] for r in rows)
    assert sum(not r[col["PreviousName_1.CompanyName"]] for r in rows) > 2000
    assert sum(not r[col["SICCode.SicText_2"]] for r in rows) > 1500
    assert all(
        re.fullmatch(r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}", r[col["RegAddress.PostCode"]])
        for r in rows
    )


def test_rows_prefix_stable_and_zero_rows():
    assert list(sd.companies_house_rows(0)) == []
    assert list(sd.enrichment_rows(0)) == []
    assert list(sd.companies_house_rows(50, seed=9)) == list(sd.companies_house_rows(200, 9))[:50]
    with pytest.raises(ValueError):
        sd.companies_house_rows(-1)
    with pytest.raises(ValueError):
        sd.enrichment_rows(-1)


def test_company_numbers_unique_and_well_formed():
    numbers = [row[1] for row in sd.companies_house_rows(50_000, seed=3)]
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 8 and CH_NUMBER.fullmatch(n) for n in numbers)
    assert sum(n.startswith("0") for n in numbers) > 25_000
    for prefix in ("SC", "NI", "OC"):
        assert any(n.startswith(prefix) for n in numbers)
    assert sum(n[:2].isalpha() for n in numbers) < 0.1 * len(numbers)


def test_company_numbers_unique_across_tier_boundary():
    import random

    params = numbers_of.number_params(random.Random(1))
    start, stop = numbers_of._TIER1 - 20_000, numbers_of._TIER1 + 20_000
    numbers = list(numbers_of.company_numbers(params, start, stop))
    assert len(numbers) == stop - start
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 8 and CH_NUMBER.fullmatch(n) for n in numbers)
    with pytest.raises(ValueError):
        sd.companies_house_rows(numbers_of.MAX_ROWS + 1)


# --------------------------------------------------------------------------- files


def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a = sd.write_companies_house(tmp_path / "a.csv", 500, seed=1).read_bytes()
    b = sd.write_companies_house(tmp_path / "b.csv", 500, seed=1).read_bytes()
    c = sd.write_companies_house(tmp_path / "c.csv", 500, seed=2).read_bytes()
    assert a == b
    assert a != c
    e1 = sd.write_enrichment(tmp_path / "e1.csv", 500, seed=1).read_bytes()
    e2 = sd.write_enrichment(tmp_path / "e2.csv", 500, seed=1).read_bytes()
    e3 = sd.write_enrichment(tmp_path / "e3.csv", 500, seed=2).read_bytes()
    assert e1 == e2
    assert e1 != e3


def test_companies_house_file_reads_back(tmp_path):
    path = sd.write_companies_house(tmp_path / "ch.csv", 2000, seed=7)
    assert isinstance(path, Path)
    raw = path.read_bytes()
    assert raw.endswith(b'"\r\n')
    assert raw.count(b"\r\n") == 2001  # no line breaks inside values
    rows = read_csv(path)
    assert rows[0] == sd.COMPANIES_HOUSE_HEADER
    data = rows[1:]
    assert len(data) == 2000
    assert all(len(r) == 55 for r in data)
    assert data == list(sd.companies_house_rows(2000, seed=7))
    # Every data field is double-quoted: re-quoting everything reproduces the bytes.
    out = io.StringIO(newline="")
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(data)
    assert raw.split(b"\r\n", 1)[1] == out.getvalue().encode("utf-8")
    assert 350 < (len(raw) / 2001) < 650  # about the size of a real line
    numbers = [r[1] for r in data]
    assert any(n.startswith("0") for n in numbers)  # leading zeros preserved
    assert len(set(numbers)) == 2000


def test_line_ending_lf(tmp_path):
    path = sd.write_companies_house(tmp_path / "ch.csv", 300, line_ending="\n")
    raw = path.read_bytes()
    assert b"\r" not in raw
    assert raw.count(b"\n") == 301
    assert read_csv(path)[1:] == list(sd.companies_house_rows(300))


def test_embedded_comma_and_quote_round_trip(tmp_path):
    rows = list(sd.companies_house_rows(3000, seed=11))
    quoted = next(r for r in rows if '"' in r[0])
    comma = next(r for r in rows if "," in r[0])
    path = sd.write_companies_house(tmp_path / "ch.csv", 3000, seed=11)
    text = path.read_text(encoding="utf-8")
    assert '"' + quoted[0].replace('"', '""') + '"' in text  # escaped by doubling
    back = read_csv(path)[1:]
    assert quoted in back
    assert comma in back
    assert back == rows


def test_zip_holds_one_member_with_same_stem(tmp_path):
    zpath = tmp_path / "BasicCompanyDataAsOneFile-2024-01-01.zip"
    assert sd.write_companies_house(zpath, 1500, seed=4) == zpath
    plain = sd.write_companies_house(tmp_path / "plain.csv", 1500, seed=4)
    with zipfile.ZipFile(zpath) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names == ["BasicCompanyDataAsOneFile-2024-01-01.csv"]
        assert zf.getinfo(names[0]).compress_type == zipfile.ZIP_DEFLATED
        content = zf.read(names[0])
        with zf.open(names[0]) as member:
            rows = list(csv.reader(io.TextIOWrapper(member, encoding="utf-8", newline="")))
    assert content == plain.read_bytes()
    assert rows[0] == sd.COMPANIES_HOUSE_HEADER
    assert len(rows) == 1501
    assert all(len(r) == 55 for r in rows)


def test_zipped_flag_overrides_suffix(tmp_path):
    forced = sd.write_companies_house(tmp_path / "part1.dat", 10, zipped=True)
    with zipfile.ZipFile(forced) as zf:
        assert zf.namelist() == ["part1.csv"]
    unzipped = sd.write_companies_house(tmp_path / "odd.zip", 10, zipped=False)
    assert not zipfile.is_zipfile(unzipped)
    assert read_csv(unzipped)[0] == sd.COMPANIES_HOUSE_HEADER


# --------------------------------------------------------------------------- enrichment


def test_enrichment_semicolon_cp1252(tmp_path):
    path = sd.write_enrichment(
        tmp_path / "export.csv", 2000, seed=2, delimiter=";", encoding="cp1252",
        line_ending="\r\n",
    )  # fmt: skip
    raw = path.read_bytes()
    assert raw.startswith(b"First Name;Last Name;")
    rows = read_csv(path, delimiter=";", encoding="cp1252")
    assert rows[0] == sd.ENRICHMENT_HEADER
    data = rows[1:]
    assert len(data) == 2000
    assert all(len(r) == 26 for r in data)
    assert data == list(sd.enrichment_rows(2000, seed=2))
    assert any(not "".join(r).isascii() for r in data)  # accents survive cp1252


def test_enrichment_awkward_values(tmp_path):
    path = sd.write_enrichment(tmp_path / "export.csv", 3000, seed=0)
    rows = read_csv(path)
    assert rows[0] == sd.ENRICHMENT_HEADER
    data = rows[1:]
    assert len(data) == 3000
    col = {name: i for i, name in enumerate(sd.ENRICHMENT_HEADER)}
    employees = {r[col["# Employees"]] for r in data}
    assert {"N/A", "-"} <= employees
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+", e) for e in employees)
    phones = [r[col["Mobile Phone"]] for r in data] + [r[col["Corporate Phone"]] for r in data]
    assert any(p.startswith("+44 ") for p in phones)
    assert any(p.startswith("0044") for p in phones)
    assert any("\n" in r[col["Keywords"]] for r in data)
    assert any("," in r[col["Company"]] for r in data)
    assert any('"' in r[col["Company"]] or '"' in r[col["Title"]] for r in data)
    profiles = [r[col["Person Linkedin Url"]] for r in data]
    assert all(p.startswith("http://www.linkedin.com/in/") for p in profiles)
    assert len({r[col["Apollo Contact Id"]] for r in data}) == 3000
    # minimal quoting: plain values are not quoted
    text = path.read_text(encoding="utf-8")
    assert text.startswith(ENRICHMENT_HEADER_LINE + "\n")
    assert '"' + data[0][0] + '"' not in text.splitlines()[1]


def test_enrichment_utf8_bom(tmp_path):
    path = sd.write_enrichment(tmp_path / "bom.csv", 50, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbfFirst Name,")
    assert read_csv(path, encoding="utf-8-sig")[1:] == list(sd.enrichment_rows(50))
