"""csv_reader.CsvStream: encodings, dialects, physical line numbers, rejected files, streaming."""

from __future__ import annotations

import codecs
import io
import math

import pytest

from intercom_importer.csv_reader import BLOCK, CsvStream, Row
from intercom_importer.errors import FileRejectedError

pytestmark = pytest.mark.unit


class CountingSource:
    """A byte source like a botocore StreamingBody: counts reads and never returns more than asked.

    ``cap`` makes every read return at most that many bytes (a socket-like source with short reads).
    """

    def __init__(self, data: bytes, cap: int | None = None) -> None:
        self._data = io.BytesIO(data)
        self.size = len(data)
        self.cap = cap
        self.calls = 0
        self.filled = 0  # reads that returned bytes
        self.peak = 0
        self.oversized = 0

    def read(self, n: int = -1, /) -> bytes:
        self.calls += 1
        limit = n if self.cap is None or n < 0 else min(n, self.cap)
        chunk = self._data.read(limit)
        if n >= 0 and len(chunk) > n:
            self.oversized += 1
        self.peak = max(self.peak, len(chunk))
        self.filled += bool(chunk)
        return chunk

    @property
    def exhausted(self) -> bool:
        return self._data.tell() >= self.size


def stream(data: bytes) -> CsvStream:
    return CsvStream(io.BytesIO(data))


def rows(data: bytes) -> list[Row]:
    return list(stream(data))


def rejection(data: bytes) -> str:
    with pytest.raises(FileRejectedError) as caught:
        list(stream(data))
    return caught.value.message


def people_rows(count: int) -> bytes:
    return b"".join(b"user%d@example.com,Name %d\n" % (i, i) for i in range(count))


# --- encodings -----------------------------------------------------------------------------------


def test_utf8_without_bom_is_read():
    s = stream("email,name\na@example.com,Zoë\n".encode())

    assert s.dialect.encoding == "utf-8"
    assert s.header == ["email", "name"]
    assert [r.cells for r in s] == [["a@example.com", "Zoë"]]


def test_utf8_bom_is_not_part_of_the_first_header():
    s = stream(codecs.BOM_UTF8 + "email,name\na@example.com,Zoë\n".encode())

    assert s.dialect.encoding_label == "UTF-8 with BOM"
    assert s.header == ["email", "name"]
    assert [r.cells for r in s] == [["a@example.com", "Zoë"]]


def test_utf16_with_bom_tab_delimited_is_read():
    data = "email\tname\r\na@example.com\tJosé Müller\r\n".encode("utf-16")  # Excel "Unicode text"
    assert data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))

    s = stream(data)

    assert s.dialect.encoding == "utf-16"
    assert s.dialect.delimiter == "\t"
    assert s.header == ["email", "name"]
    assert [(r.line, r.cells) for r in s] == [(2, ["a@example.com", "José Müller"])]


def test_windows_1252_accents_are_decoded_without_mojibake():
    s = stream("email,name\na@example.com,José Müller\n".encode("cp1252"))

    assert s.dialect.encoding == "cp1252"
    assert [r.cells for r in s] == [["a@example.com", "José Müller"]]


def test_utf8_character_split_by_a_short_read_is_still_utf8():
    # The source returns at most 1000 bytes a read and "é" straddles bytes 999-1000.
    data = b"email,name\n" + b"a" * 988 + "é@example.com,x\n".encode()
    assert data[999:1001] == "é".encode()

    s = CsvStream(CountingSource(data, cap=1000))

    assert s.dialect.encoding == "utf-8"
    assert [r.cells[0][-14:] for r in s] == ["aé@example.com"]


# --- dialects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed_from_the_header(delimiter: str):
    data = delimiter.join(["email", "name", "phone"]) + "\n" + delimiter.join(["a@example.com", "A, B", "1"]) + "\n"

    s = stream(data.encode())

    assert s.dialect.delimiter == delimiter
    assert [r.cells for r in s] == [["a@example.com", "A, B", "1"]]


def test_excel_sep_line_sets_the_delimiter_and_keeps_physical_line_numbers():
    s = stream(b"sep=;\r\nemail;name\r\na@example.com;A\r\nb@example.com;B\r\n")

    assert s.dialect.delimiter == ";"
    assert s.dialect.skipped_lines == 1
    assert s.header == ["email", "name"]
    assert s.header_line == 2
    assert [(r.line, r.cells) for r in s] == [(3, ["a@example.com", "A"]), (4, ["b@example.com", "B"])]


def test_crlf_line_endings_leave_no_carriage_return_in_cells():
    result = rows(b"email,name\r\na@example.com,A\r\nb@example.com,B\r\n")

    assert [(r.line, r.cells) for r in result] == [(2, ["a@example.com", "A"]), (3, ["b@example.com", "B"])]


def test_quoted_cell_keeps_embedded_newline_and_doubled_quotes():
    result = rows(b'email,note\na@example.com,"first line\nsecond ""quoted"" line"\n')

    assert result[0].cells == ["a@example.com", 'first line\nsecond "quoted" line']


def test_row_after_a_multiline_row_reports_its_physical_line():
    data = b'email,note\na@example.com,"one\ntwo\nthree"\nb@example.com,x\n'

    assert [r.line for r in rows(data)] == [2, 5]


def test_blank_lines_are_skipped_but_counted():
    data = b"email,name\n\na@example.com,A\n\n\nb@example.com,B\n"

    assert [(r.line, r.cells[0]) for r in rows(data)] == [(3, "a@example.com"), (6, "b@example.com")]


BLANK_LINES = {
    "empty": b"\n",
    "empty crlf": b"\r\n",
    "spaces": b"   \n",
    "spaces and tabs crlf": b" \t \r\n",
    "delimiters": b",,\n",
    "delimiters and spaces": b" , ,\t\n",
    "quoted empty cells": b'"","",""\n',
    "quoted whitespace": b'" ",,"\t"\n',
}


@pytest.mark.parametrize("blank", list(BLANK_LINES.values()), ids=list(BLANK_LINES))
def test_blank_line_in_the_middle_and_at_the_end_is_no_row_and_is_counted(blank: bytes):
    data = b"email,name,external_id\na@example.com,A,1\n" + blank + b"b@example.com,B,2\n" + blank
    s = stream(data)

    assert [(r.line, r.cells) for r in s] == [(2, ["a@example.com", "A", "1"]), (4, ["b@example.com", "B", "2"])]
    assert s.blank_lines == 2


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_line_of_only_delimiters_is_blank_in_the_files_own_dialect(delimiter: str):
    d = delimiter
    data = f"email{d}name{d}plan\na@example.com{d}A{d}pro\n{d}{d}\n{d}\nb@example.com{d}B{d}free\n{d}{d}\n"
    s = stream(data.encode())

    assert s.dialect.delimiter == delimiter
    assert [(r.line, r.cells[0]) for r in s] == [(2, "a@example.com"), (5, "b@example.com")]
    assert s.blank_lines == 3


def test_file_ending_in_a_whitespace_line_and_a_row_of_empty_cells_keeps_only_its_rows():
    data = b"email,name,external_id\r\na@example.com,A,1\r\n   \r\nb@example.com,B,2\r\n \t \r\n,,\r\n  "
    s = stream(data)

    assert [(r.line, r.cells) for r in s] == [(2, ["a@example.com", "A", "1"]), (4, ["b@example.com", "B", "2"])]
    assert s.blank_lines == 4  # the last one, spaces without a line break, too


def test_blank_row_spanning_two_lines_counts_once_and_later_rows_keep_their_lines():
    s = stream(b'email,name\n"\n",""\nb@example.com,B\n\nc@example.com,C\n')

    assert [(r.line, r.cells[0]) for r in s] == [(4, "b@example.com"), (6, "c@example.com")]
    assert s.blank_lines == 2


def test_a_row_with_one_value_among_empty_cells_is_a_row():
    s = stream(b"email,name,plan\n,,pro\n , x ,\n")

    assert [(r.line, r.cells) for r in s] == [(2, ["", "", "pro"]), (3, [" ", " x ", ""])]
    assert s.blank_lines == 0


def test_cell_of_200_kb_is_read():
    big = b"x" * 200_000

    result = rows(b"email,note\na@example.com," + big + b"\n")

    assert len(result[0].cells[1]) == 200_000


# --- rejected files ------------------------------------------------------------------------------


def test_empty_file_is_rejected_as_empty():
    assert "empty" in rejection(b"")


def test_header_only_file_is_rejected_for_having_no_data_rows():
    assert "no data rows" in rejection(b"email,name\r\n")


def test_empty_first_line_is_rejected_as_missing_header():
    assert "first line is empty" in rejection(b"\nemail,name\na@example.com,A\n")


def test_whitespace_first_line_is_rejected_as_missing_header_not_skipped():
    assert "first line is empty" in rejection(b"  \t \r\nemail,name\r\na@example.com,A\r\n")


def test_header_followed_only_by_blank_lines_is_rejected_for_having_no_data_rows():
    assert "no data rows" in rejection(b'email,name\n\n   \n,\n"",""\n \t')


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "Excel .xlsx"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
    ],
    ids=["xlsx", "png", "pdf"],
)
def test_binary_file_is_rejected_saying_what_it_is(data: bytes, what: str):
    message = rejection(data)

    assert what in message
    assert "CSV" in message


def test_nul_bytes_in_the_first_block_are_rejected():
    assert "NUL" in rejection(b"email,name\na@example.com,A\x00B\n")


def test_nul_byte_after_the_first_block_is_rejected_with_its_line():
    rows_before = people_rows(5000)  # > 64 KiB
    assert len(rows_before) > BLOCK
    data = b"email,name\n" + rows_before + b"x@example.com,A\x00B\n"

    message = rejection(data)

    assert message.startswith("Line 5002:")
    assert "NUL" in message


def test_windows_1252_accent_after_an_ascii_first_block_is_decoded_as_windows_1252():
    rows_before = people_rows(5000)  # lines 2..5001, > 64 KiB of ASCII
    assert len(rows_before) > BLOCK
    data = b"email,name\n" + rows_before + b"jose@example.com,Jos\xe9 M\xfcller\n" + people_rows(100)

    rows = list(stream(data))

    assert rows[5000].cells == ["jose@example.com", "José Müller"]


def test_bytes_neither_utf8_nor_windows_1252_after_the_first_block_are_rejected_with_their_line():
    rows_before = people_rows(5000)
    data = b"email,name\n" + rows_before + b"bad@example.com,A\x81B\n" + people_rows(100)

    message = rejection(data)

    assert message.startswith("Line 5002:")
    assert "UTF-8" in message


def test_undecodable_byte_inside_a_multiline_cell_points_at_its_physical_line():
    rows_before = people_rows(5000)
    data = b"email,note\n" + rows_before + b'bad@example.com,"ok\nstill ok\nA\x81"\n'

    assert rejection(data).startswith("Line 5004:")


def test_unbalanced_quote_is_rejected_with_the_line_where_it_starts():
    data = b'email,note\na@example.com,fine\nb@example.com,"never closed\nc@example.com,x\nd@example.com,y\n'

    message = rejection(data)

    assert message.startswith("Line 3:")
    assert "never closed" in message


# --- streaming -----------------------------------------------------------------------------------


def test_large_input_is_read_in_blocks_of_at_most_64_kib():
    data = b"email,name\n" + people_rows(150_000)  # about 5 MB
    source = CountingSource(data)

    count = sum(1 for _ in CsvStream(source))

    assert count == 150_000
    assert source.exhausted
    assert source.oversized == 0
    assert source.peak == BLOCK
    # every byte read once, a whole block at a time but the last: ceil(size / BLOCK) reads with data (the
    # buffered reader also asks again at the end of the stream; those reads return nothing and are not counted)
    assert source.filled == math.ceil(len(data) / BLOCK) == 77


def test_first_row_is_available_before_the_source_is_exhausted():
    data = b"email,name\n" + people_rows(150_000)
    source = CountingSource(data)
    s = CsvStream(source)
    rows_iter = iter(s)

    first = next(rows_iter)

    assert first == Row(2, ["user0@example.com", "Name 0"])
    assert not source.exhausted
    assert s.bytes_read <= 2 * BLOCK


def test_bytes_read_grows_while_iterating():
    data = b"email,name\n" + people_rows(150_000)
    s = CsvStream(CountingSource(data))
    seen: list[int] = []

    for index, _row in enumerate(s):
        if index % 20_000 == 0:
            seen.append(s.bytes_read)

    assert len(set(seen)) == len(seen)  # strictly growing, one sample per 20,000 rows
    assert seen == sorted(seen)
    assert seen[0] < len(data) // 4
    assert s.bytes_read == len(data)


def test_gzip_file_streams_like_the_plain_csv():
    import gzip as gz

    plain = b"email,name\n" + b"".join(f"u{i}@example.com,User {i}\n".encode() for i in range(5000))
    stream = CsvStream(io.BytesIO(gz.compress(plain)))
    rows = list(stream)

    assert stream.compressed
    assert stream.header == ["email", "name"]
    assert len(rows) == 5000 and rows[-1].line == 5001 and rows[-1].cells == ["u4999@example.com", "User 4999"]


def test_damaged_gzip_is_rejected_saying_so():
    assert "cannot be decompressed" in rejection(b"\x1f\x8b\x08\x00\x00\x00\x00\x00" + b"\x00" * 100)


def test_gzip_cut_short_is_rejected_with_the_line():
    import gzip as gz

    data = gz.compress(b"email,name\n" + b"".join(f"u{i}@example.com,U\n".encode() for i in range(200000)))
    message = rejection(data[: len(data) // 2])
    assert "damaged or cut short" in message and message.startswith("Line ")
