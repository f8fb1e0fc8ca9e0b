"""Writes the bad-input corpus: one small file per case, byte for byte what a user might upload.

    python tests/corpus/make_corpus.py          # (re)write the files next to this script
    python tests/corpus/make_corpus.py --check  # exit 1 if a committed file differs from what is built here

Each case is built here rather than typed into a file because its point is often bytes an editor would
"fix" (a BOM, UTF-16, Windows-1252, CRLF, NUL, zero-width spaces, a ZIP or PNG signature). Large cases (a
200 KB cell, hundreds of columns, a problem after the first 64 KiB block) are built by ``large_cases()`` at
test time so the committed corpus stays a few kilobytes. tests/unit/test_bad_input_corpus.py runs every
case through the validator's reading, mapping and row checks and asserts the message the user gets.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # fixed, so the workbook's bytes do not change between runs


def _xlsx() -> bytes:
    """A minimal but real Excel workbook (an .xlsx is a ZIP of XML parts)."""
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main"><sheets><sheet name="people" sheetId="1"/></sheets></workbook>',
        "xl/worksheets/sheet1.xml": '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
        'openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>email'
        "</t></is></c></row></sheetData></worksheet>",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as workbook:
        for name, text in parts.items():
            workbook.writestr(zipfile.ZipInfo(name, ZIP_TIME), text)
    return buffer.getvalue()


def _png() -> bytes:
    """A valid 1x1 white PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


CASES: dict[str, bytes] = {
    "empty.csv": b"",
    "header_only.csv": b"email,name,plan\r\n",
    "no_header_row.csv": b"alice@example.com,Alice Martin,pro\nbob@example.com,Bob Stone,free\n",
    "missing_identifier.csv": b"name,phone,plan\nAlice Martin,+44 20 7946 0000,pro\n",
    "duplicate_headers.csv": b"email,Name,full name,plan,plan\nalice@example.com,Alice,Alice Martin,pro,pro\n",
    "blank_header.csv": b"email,,name\nalice@example.com,x,Alice\n",
    "utf8_bom.csv": "\ufeffemail,name\nzoe@example.com,Zoë Ågren\n".encode(),
    # Excel "Unicode text": UTF-16 LE with a BOM, tab separated, CRLF.
    "utf16_excel_unicode_text.csv": "email\tname\tcity\r\nrene@example.com\tRené Ørsted\tKøbenhavn\r\n".encode(
        "utf-16"
    ),
    # Excel "CSV" on a French or German Windows: Windows-1252 and semicolons.
    "windows1252_accents.csv": "email;name;city\nfrancois@example.com;François Müller \u2013 Café;Besançon\n".encode(
        "cp1252"
    ),
    "semicolon.csv": b"email;name;plan\nalice@example.com;Martin, Alice;pro\n",
    "tab.csv": b"email\tname\tplan\nalice@example.com\tAlice, Martin\tpro\n",
    "excel_sep_line.csv": b"sep=;\r\nemail;name\r\nalice@example.com;Alice\r\n",
    "crlf.csv": b"email,name,plan\r\nalice@example.com,Alice,pro\r\nbob@example.com,Bob,free\r\n",
    "quoted_newlines_and_quotes.csv": (
        b'email,name,notes\r\nalice@example.com,"Alice ""Al"" Martin","first line\r\nsecond line"\r\n'
        b"bob@example.com,Bob,plain\r\n"
    ),
    "unbalanced_quote.csv": b'email,name\nalice@example.com,"Alice Martin\nbob@example.com,Bob\n',
    "ragged_rows.csv": b"email,name,plan\nalice@example.com,Alice,pro,extra\nbob@example.com,Bob\ncarol@example.com,Carol,free\n",
    "invalid_emails.csv": (
        "email,name\n"
        "alice@example.com.,trailing dot\n"
        "bob stone@example.com,space inside\n"
        "carol@,missing domain\n"
        "dave.example.com,no at sign\n"
        "er\u200bin@example.com,zero-width space\n"
        "frank@example.com,valid\n"
    ).encode(),
    "email_case_and_spaces.csv": b"email,name\n  Alice@Example.COM  ,one\nalice@example.com,two\nALICE@EXAMPLE.COM ,three\n",
    "nul_bytes.csv": b"email,name\nalice@example.com,Al\x00ice\n",
    "excel_workbook.csv": _xlsx(),
    "image.csv": _png(),
    "html_and_formulas.csv": (
        b"email,name,phone,notes\n"
        b'alice@example.com,<b>Alice</b><script>alert(1)</script>,+44 20 7946 0000,"=HYPERLINK(""http://x.test"",""x"")"\n'
        b"bob@example.com,@SUM(A1:A2),-1,+1+1\n"
        b"carol@example.com,Carol,,'=1+1\n"
    ),
    # An Excel or Google Sheets export's blank lines: whitespace only, empty cells (quoted too), a last line of spaces.
    "blank_lines.csv": (
        b"email,name,external_id\r\nada@example.com,Ada Lovelace,u-1\r\n   \r\n"
        b'grace@example.com,Grace Hopper,u-2\r\n,,\r\n"","",""\r\n\r\nalan@example.com,Alan Turing,u-3\r\n,,\r\n \t '
    ),
    "header_and_blank_lines.csv": b"email,name,plan\r\n,,\r\n   \r\n\r\n",
    "blank_line_before_header.csv": b",,\r\nemail,name,plan\r\nada@example.com,Ada,pro\r\n",
    "bad_dates.csv": (
        b"email,signed_up_at\n"
        b"a@example.com,31/02/2024\n"
        b"b@example.com,2024-13-01\n"
        b"c@example.com,next tuesday\n"
        b"d@example.com,03/04/24\n"
        b"e@example.com,2024-02-29\n"
    ),
}


def large_cases() -> dict[str, bytes]:
    """Cases too big to commit, built in memory by the tests."""
    big = "x" * (200 * 1024)
    padding = "".join(f"user{i:05d}@example.com,Person {i}\n" for i in range(3000))  # > 64 KiB of plain ASCII
    return {
        "cell_200kb.csv": f'email,name,notes\nalice@example.com,Alice,"{big}"\nbob@example.com,{"B" * 300},short\n'.encode(),
        "columns_300.csv": (
            "email," + ",".join(f"custom {i:03d}" for i in range(300)) + "\n"
            "alice@example.com," + ",".join(str(i) for i in range(300)) + "\n"
        ).encode(),
        "windows1252_after_first_block.csv": ("email,name\n" + padding + "zoe@example.com,Zoë Müller\n").encode(
            "cp1252"
        ),
        "nul_after_first_block.csv": ("email,name\n" + padding).encode() + b"zoe@example.com,Z\x00e\n",
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, data in CASES.items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
    if stale:
        print("out of date (run tests/corpus/make_corpus.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
