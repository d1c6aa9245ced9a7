"""Write the hostile-input corpus and its expected outcomes (deterministic: same bytes every run).

    python tests/corpus/make_corpus.py

Each file goes to `tests/corpus/<folder>/<name>`; the folder names a rule in
`expected.json` ("folders"), and "files" lists every audit record the daemon must
end with: status, rows loaded, rows rejected and fragments of its error text.
Files under `base/` are loaded before the corpus (so that header checks against an
existing table and the "target left as it was" checks have something to compare).
The second round (`round_two.py`) adds limits of memory, disk, names and databases; its
big files and odd names are written at test time ("generated": true), never committed.
An expectation may differ on one database ("backends": {"postgresql": {...}}; "babelfish"
applies after "mssql" when the SQL Server is Babelfish).
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import round_two  # noqa: E402  (beside this script)

FOLDERS: dict[str, dict[str, Any]] = {
    "dialects": {"table": "dialects", "mode": "append"},
    "typed": {
        "table": "typed_contacts", "mode": "append", "null_values": ["", "N/A", "-"], "key_columns": ["Email"],
        "columns": {"employees": "integer", "Revenue": "decimal", "joined": {"type": "date", "format": "%d/%m/%Y"},
                    "active": "boolean", "seen_at": "datetime"},
    },
    "strict": {"table": "strict_contacts", "mode": "append", "required_columns": ["email"],
               "new_columns": "fail", "duplicate_columns": "fail"},
    "ignore": {"table": "ignore_contacts", "mode": "append", "new_columns": "ignore"},
    "skip": {"table": "skip_contacts", "mode": "append", "on_error": "skip_file", "max_rejects": 1},
    "percent": {"table": "pct_contacts", "mode": "append", "on_error": "skip_file", "max_reject_percent": 20},
    "abort": {"table": "abort_contacts", "mode": "append", "on_error": "abort"},
    "companies": {"table": "companies", "mode": "fullload", "reference": True},
    "refdata": {"table": "refdata", "mode": "fullload", "reference": True},
    "utf8strict": {"table": "utf8_contacts", "mode": "append", "encoding": "utf-8"},
    "latin1": {"table": "latin1_contacts", "mode": "append", "encoding": "latin-1"},
    "hostile": {"table": 'x"; DROP TABLE companies; --', "mode": "append"},
    **round_two.FOLDERS,
}

files: dict[str, dict[str, Any]] = {}  # audit file name -> expected outcome
written: list[Path] = []


def put(folder: str, name: str, data: bytes | str | Any, status: str = "loaded", loaded: int = 0, rejected: int = 0,
        error: list[str] | None = None, *, record: bool = True, backends: dict[str, dict[str, Any]] | None = None,
        generated: bool = False) -> None:
    """Write one corpus file (unless it is generated at test time) and what the daemon must
    record for it."""
    if not generated:
        path = HERE / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        written.append(path)
    if record:
        files[name] = {"folder": folder, "status": status, "rows_loaded": loaded, "rows_rejected": rejected,
                       "error": error or [], **({"generated": True} if generated else {}),
                       **({"backends": backends} if backends else {})}


def expect(name: str, folder: str, status: str, loaded: int, rejected: int, error: list[str] | None = None) -> None:
    """An audit record that does not come from a file of the same name (a zip member)."""
    files[name] = {"folder": folder, "status": status, "rows_loaded": loaded, "rows_rejected": rejected,
                   "error": error or []}


def generated_put(*args: Any, **kwargs: Any) -> None:
    """`put` for a file written at test time: only its expectation is recorded here."""
    put(*args, **kwargs, generated=True)


zipped = round_two.zipped


def gzipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as stream:
        stream.write(data)
    return buffer.getvalue()


def dialects() -> None:
    """RFC 4180 and its real-world variants, encodings and containers: all load."""
    d = "dialects"
    put(d, "rfc_quoted_commas.csv", 'id,name,note\n1,"Smith, John","said ""hi"""\n2,"a,b,c",plain\n3,,""\n',
        loaded=3)
    put(d, "rfc_multiline.csv", 'id,address,note\r\n1,"1 High St\r\nLondon\r\nUK",ok\r\n2,"line1\nline2",x\r\n',
        loaded=2)
    put(d, "crlf.csv", "id,v\r\n1,a\r\n2,b\r\n3,c\r\n", loaded=3)
    put(d, "lf_no_final_newline.csv", "id,v\n1,lf\n2,no-final", loaded=2)
    put(d, "blank_last_line.csv", "id,v\r\n1,x\r\n2,y\r\n\r\n", loaded=2)
    put(d, "blank_lines_between.csv", "id,v\n\n1,x\n\n\n2,z\n,\n", loaded=2)
    put(d, "cr_only.csv", "id,v\r1,mac\r2,classic\r", loaded=2)
    put(d, "semicolon.csv", 'id;name;amount\n1;"Müller; Hans";1,5\n2;Jones;2,0\n', loaded=2)
    put(d, "tab_separated.tsv", "id\tname\tcity\n1\tAnn\tLeeds\n2\tBob\tYork\n", loaded=2)
    put(d, "pipe.csv", "id|name\n1|pipe-a\n2|pipe-b|\n", loaded=2)
    put(d, "excel_sep_line.csv", "sep=;\nid;name\n1;excel\n", loaded=1)
    put(d, "utf8_bom.csv", codecs.BOM_UTF8 + "id,name\n1,Zoë\n".encode(), loaded=1)
    put(d, "utf16_bom.csv", "id,name\r\n1,Łódź\r\n2,東京\r\n".encode("utf-16"), loaded=2)
    put(d, "utf16be_bom.csv", codecs.BOM_UTF16_BE + "id,name\n1,Kraków\n".encode("utf-16-be"), loaded=1)
    put(d, "utf16_no_bom.csv", "id,name\n1,Gdańsk\n2,Poznań\n3,Wrocław\n".encode("utf-16-le"), loaded=3)
    put(d, "cp1252.csv", "id,name,price\n1,Café,€5\n2,Naïve,“quoted”\n".encode("cp1252"), loaded=2)
    put(d, "gzipped.csv.gz", gzipped(b"id,v\n1,gz\n2,gz\n3,gz\n"), loaded=3)
    put(d, "single.zip", zipped({"data.csv": "id,v\n1,zip\n"}), loaded=1)
    put(d, "multi.zip", zipped({
        "part1.csv": "id,v\n1,p1\n2,p1\n",
        "folder/part2.csv": "id,v\n3,p2\n4\n",
        "../escape.csv": "id,v\n5,escape\n",
        "readme.md": "not a CSV member",
    }), record=False)
    expect("multi.zip!part1.csv", d, "loaded", 2, 0)
    expect("multi.zip!folder_part2.csv", d, "loaded", 1, 1)
    expect("multi.zip!escape.csv", d, "loaded", 1, 0)
    put(d, "ragged.csv", "id,a,b\n1,x,y\n2,x\n3,x,y,z\n4,x,y\n", loaded=2, rejected=2)
    put(d, "trailing_empty_columns.csv", "id,a,,\n1,x,,\n2,y,,\n", loaded=2)
    put(d, "unterminated_quote.csv", 'id,v\n1,a\n2,"never closed\n3,c\n', "failed",
        error=["line 3: a quote opened on this line is never closed: it would swallow 2 line(s)"])
    put(d, "hostile_header.csv",
        'id,x]; DROP TABLE ref.companies;--,"""; DROP TABLE x; --",Robert\'); DROP TABLE students;--\n'
        "1,a,b,c\n", loaded=1)
    put(d, "duplicate_header.csv", "Email,Phone,phone,EMAIL\na@x.io,1,2,b@x.io\n", loaded=1,
        error=["warning: duplicate column names", "'Phone' (column 2)"])
    put(d, "unicode_header.csv", "Société,Größe,Ünïcödé 😀,naïve %\nx,1,2,3\n", loaded=1)
    put(d, "long_header.csv", "id," + "a very long column name " * 12 + "\n1,long\n", loaded=1)
    put(d, "empty_header_names.csv", ",a,,b\n1,2,3,4\n", loaded=1)
    put(d, "header_only.csv", "id,v,header_only\n", loaded=0)
    put(d, "ctrl_z_end.csv", "id,v\n1,dos\n\x1a", loaded=1)
    put(d, "zero_bytes.csv", b"", "failed", error=["empty"])
    put(d, "only_blank_lines.csv", "\n\r\n\n", "failed", error=["empty"])
    put(d, "empty_header.csv", ",,,\n1,2,3,4\n", "failed", error=["header is empty"])
    put(d, "nul_byte.csv", b"id,v\n1,a\x00b\n", "failed", error=["NUL"])
    put(d, "binary_png.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "failed", error=["PNG image"])
    put(d, "binary_pdf.csv", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "failed", error=["PDF document"])
    put(d, "binary_ole.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "failed", error=["Excel 97-2003"])
    rng = random.Random(7)
    noise = bytes(rng.choice([*range(1, 9), *range(14, 32), *range(128, 256)]) for _ in range(2048))
    put(d, "binary_controls.csv", noise, "failed", error=["binary content"])
    put(d, "xlsx_named.csv", zipped({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"}),
        "failed", error=["Office document"])
    digits = "".join(f"{rng.randrange(10**9)},{rng.randrange(10**9)}\n" for _ in range(300)).encode()
    put(d, "corrupt.csv.gz", gzipped(b"id,v\n" + digits)[:400], "failed", error=["damaged"])
    put(d, "corrupt.zip", b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(300)), "failed",
        error=["not a readable zip"])
    put(d, "no_csv_inside.zip", zipped({"readme.md": "nothing to load"}), "failed", error=["0 CSV files"])


def typed() -> None:
    """Declared types, null tokens, thousands separators, leading zeros, empty keys."""
    t = "typed"
    header = "Email,Phone,Employees,Revenue,Joined,Active,Seen At\r\n"
    put(t, "typed_good.csv", header
        + 'a@x.io,00441234,"1,200","1,200.50",01/02/2024,Yes,2024-01-02T03:04:05Z\r\n'
        + "b@x.io,+44 7700 900123,N/A,-,,no,\r\n"
        + "c@x.io,07687209,12,0.5,29/02/2024,1,2024-03-04 05:06:07\r\n", loaded=3)
    put(t, "typed_bad.csv", header
        + "d@x.io,1,5,1.5,01/01/2024,y,\r\n"
        + "e@x.io,1,12a,1.5,01/01/2024,y,\r\n"
        + "f@x.io,1,5,1.2.3,01/01/2024,y,\r\n"
        + "g@x.io,1,5,1.5,31/02/2024,y,\r\n"
        + ",1,5,1.5,01/01/2024,y,\r\n"
        + "h@x.io,1,5,1.5,01/01/2024,maybe,\r\n"
        + "i@x.io,1,99999999999999999999,1.5,01/01/2024,y,\r\n", loaded=1, rejected=6)
    export = ("Email;Phone;Employees;Revenue;Joined;Active;Seen At\r\n"
              'j@x.io;"+44 20 7946 0000";"2,500";"3,000,000";15/06/2023;TRUE;\r\n'
              'k@x.io;0044 1234 – ext 5;N/A;-;-;false;"2023-06-15 10:00"\r\n')
    put(t, "typed_enrichment_cp1252.csv", export.encode("cp1252"), loaded=2)


def policies() -> None:
    """Header checks and on_error policies; a failed file leaves its target as it was."""
    put("strict", "strict_missing_email.csv", "name\nno email column\n", "failed",
        error=["missing required columns: email"])
    put("strict", "strict_new_column.csv", "email,name,shoe_size\nn@x.io,N,42\n", "failed",
        error=["new columns not in", "shoe_size"])
    put("strict", "strict_duplicate.csv", "email,Email,name\na@x.io,b@x.io,dup\n", "failed",
        error=["duplicate column names", "'Email' (column 2)"])
    put("strict", "strict_ok_reordered.csv", "Name,EMAIL\nReordered,r@x.io\n", loaded=1)
    put("ignore", "ignore_new_column.csv", "email,name,extra\ni@x.io,I,dropped\n", loaded=1,
        error=["warning: new columns ignored: extra"])
    put("skip", "skip_over_limit.csv", "id,v\n1,a\n2\n3\n4,d\n", "failed", rejected=2,
        error=["more than 1 rows rejected"])
    put("skip", "skip_within_limit.csv", "id,v\n1,a\n2\n3,c\n", loaded=2, rejected=1)
    put("percent", "percent_over.csv", "id,v\n1,a\n2\n3,c\n", "failed", rejected=1,
        error=["max_reject_percent 20"])
    put("percent", "percent_within.csv", "id,v\n" + "".join(f"{i},ok\n" for i in range(9)) + "9\n",
        loaded=9, rejected=1)
    put("abort", "abort_on_first.csv", "id,v\n1,a\n2\n3,c\n4\n", "failed", rejected=1,
        error=["line 3", "on_error is abort"])
    put("abort", "abort_clean.csv", "id,v\n1,a\n2,b\n", loaded=2)
    put("companies", "companies_header_only.csv", " CompanyName, CompanyNumber\n", "failed",
        error=["refusing to replace ref.companies with an empty table"])
    put("companies", "companies_all_rejected.csv", " CompanyName, CompanyNumber\nONLY ONE FIELD\nALSO ONE\n",
        "failed", rejected=2, error=["all 2 rows were rejected"])
    put("companies", "companies_binary.csv", b"\x00\x01\x02" * 100, "failed", error=["binary content"])
    put("utf8strict", "configured_utf8_invalid.csv", "id,name\n1,ok\n2,Café\n".encode("cp1252"), "failed",
        error=["line 3, byte offset 18", "not valid utf-8"])
    put("latin1", "configured_latin1.csv", "id,name\n1,Ångström\n".encode("latin-1"), loaded=1)
    put("refdata", "refdata_hostile_header.csv",
        'code,"x]; DROP TABLE ref.companies;--"\nA,1\nB,2\n', loaded=2)
    put("hostile", "hostile_table_name.csv", "id,v\n1,table name is hostile\n", loaded=1)


def base() -> None:
    """Loaded before the corpus: the tables the header checks and intact-target checks need."""
    folder = HERE / "base"
    for name, text in {
        "strict/strict_base.csv": "email,name\nbase@x.io,Base\n",
        "ignore/ignore_base.csv": "email,name\nbase@x.io,Base\n",
        "companies/companies_base.csv": " CompanyName, CompanyNumber\nACME LTD,07687209\nBETA LTD,00001234\n",
    }.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)


def main() -> None:
    for child in HERE.iterdir():
        if child.is_dir() and child.name != "__pycache__":
            shutil.rmtree(child)
    dialects()
    typed()
    policies()
    round_two.committed(put)
    round_two.generated(generated_put, expect)
    base()
    spec = {"folders": FOLDERS, "settings": round_two.SETTINGS, "base": {"strict": 1, "ignore": 1, "companies": 2},
            "files": files}
    (HERE / "expected.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(written)} files written, {len(files)} expected audit records")


if __name__ == "__main__":
    main()
