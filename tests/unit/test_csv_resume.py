"""CsvStream checkpoints: exact byte offsets at row boundaries, and resuming from one in a new stream.

The reader's byte blocks are an eighth of production's here, and so are the files: each still spans about the
same number of blocks (a checkpoint in a later block, an ASCII first block, a resume far into the file).
"""

from __future__ import annotations

import codecs
import gzip
import io

import pytest

from intercom_importer import csv_reader
from intercom_importer.csv_reader import CsvStream, Row, StreamCheckpoint

pytestmark = pytest.mark.unit

READ_BLOCK = 8 * 1024  # 64 KiB in production


@pytest.fixture(autouse=True)
def small_read_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_reader, "BLOCK", READ_BLOCK)  # read when a stream reads, not bound at import


def people(count: int, *, newline: str = "\n", accent: str = "é") -> str:
    lines = ["email,name,note"] + [
        f'user{i}@example.com,Zo{accent} {i},"{"multi" + newline + "line" if i % 7 == 3 else "plain"}"'
        for i in range(count)
    ]
    return newline.join(lines) + newline


def read_split(data: bytes, after: list[int]) -> list[Row]:
    """Read ``data`` stopping after the given numbers of rows, each time resuming in a fresh stream."""
    return read_split_counting(data, after)[0]


def read_split_counting(data: bytes, after: list[int]) -> tuple[list[Row], int]:
    """``read_split``, and the blank lines the last stream counted (since the start of the file)."""
    stream = CsvStream(io.BytesIO(data))
    rows: list[Row] = []
    stops = iter(after)
    stop = next(stops, None)
    while True:
        for row in stream:
            rows.append(row)
            if len(rows) == stop:
                break
        else:
            return rows, stream.blank_lines
        state = StreamCheckpoint.from_dict(stream.checkpoint().to_dict())  # what travels in the checkpoint
        source = io.BytesIO(data if state.compressed else data[state.offset :])
        stream = CsvStream.resume(source, state)
        stop = next(stops, None)


ENCODINGS = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8-bom": lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
    "utf-16-bom": lambda text: text.encode("utf-16"),
    "utf-16-be-bom": lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
    "utf-16-le-no-bom": lambda text: text.encode("utf-16-le"),
    "cp1252": lambda text: text.encode("cp1252"),
    "gzip": lambda text: gzip.compress(text.encode("utf-8")),
    "gzip-utf-16": lambda text: gzip.compress(text.encode("utf-16")),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_resuming_at_checkpoints_yields_the_same_rows_as_one_pass(encoding: str, newline: str):
    data = ENCODINGS[encoding](people(375, newline=newline))
    whole = list(CsvStream(io.BytesIO(data)))

    assert read_split(data, [1]) == whole
    assert read_split(data, [125, 126]) == whole
    assert read_split(data, [7, 62, 154, 374]) == whole


def test_checkpoint_offset_is_the_exact_byte_position_of_the_next_row():
    text = people(50)
    data = text.encode("utf-8")
    stream = CsvStream(io.BytesIO(data))
    for row in stream:
        state = stream.checkpoint()
        following = data[state.offset :].decode("utf-8")
        assert following == "" or following.startswith(f"user{int(row.cells[0][4:].split('@')[0]) + 1}@")


def test_windows_1252_fallback_after_an_ascii_first_block_resumes_at_the_exact_byte():
    ascii_rows = "".join(f"user{i}@example.com,Name {i},x\n" for i in range(625))
    assert len(ascii_rows) > csv_reader.BLOCK
    data = ("email,name,note\n" + ascii_rows).encode() + b"jose@example.com,Jos\xe9 M\xfcller,x\n" * 3
    data += "zoe@example.com,Zoë,x\n".encode()  # real UTF-8 later in the same file

    whole = list(CsvStream(io.BytesIO(data)))

    assert whole[625].cells[1] == "José Müller" and whole[-1].cells[1] == "Zoë"
    assert read_split(data, [625, 626, 627]) == whole


def test_resumed_rows_keep_their_physical_line_numbers_after_a_sep_line_and_blank_lines():
    data = b"sep=;\r\nemail;name\r\n\r\na@example.com;A\r\n\r\n\r\nb@example.com;B\r\nc@example.com;C\r\n"

    rows = read_split(data, [1, 2])

    assert [(r.line, r.cells[0]) for r in rows] == [(4, "a@example.com"), (7, "b@example.com"), (8, "c@example.com")]


BLANKS_AT_BOUNDARIES = (
    b'email,name\r\n\r\na@example.com,A\r\n   \r\n,\r\nb@example.com,B\r\n"",""\r\nc@example.com,C\r\n\t\r\n\r\n  '
)


@pytest.mark.parametrize("after", [[], [1], [2], [3], [1, 2], [1, 2, 3]], ids=str)
def test_blank_lines_are_counted_once_whichever_rows_the_checkpoints_follow(after: list[int]):
    rows, blank_lines = read_split_counting(BLANKS_AT_BOUNDARIES, after)

    assert [(r.line, r.cells[0]) for r in rows] == [(3, "a@example.com"), (6, "b@example.com"), (8, "c@example.com")]
    assert blank_lines == 7


def test_checkpoint_of_an_older_version_without_blank_lines_resumes_counting_from_zero():
    stream = CsvStream(io.BytesIO(BLANKS_AT_BOUNDARIES))
    next(iter(stream))
    saved = stream.checkpoint().to_dict()
    assert saved["blank_lines"] == 1
    del saved["blank_lines"]

    state = StreamCheckpoint.from_dict(saved)
    resumed = CsvStream.resume(io.BytesIO(BLANKS_AT_BOUNDARIES[state.offset :]), state)

    assert [r.line for r in resumed] == [6, 8]
    assert resumed.blank_lines == 6


def test_checkpoint_at_the_last_row_resumes_to_nothing():
    data = people(10).encode()

    assert read_split(data, [10]) == list(CsvStream(io.BytesIO(data)))


def test_plain_resume_reads_only_from_the_offset():
    data = people(2500).encode()
    stream = CsvStream(io.BytesIO(data))
    for index, _row in enumerate(stream):
        if index == 1249:
            break
    state = stream.checkpoint()
    rest = io.BytesIO(data[state.offset :])

    resumed = CsvStream.resume(rest, state)
    first = next(iter(resumed))

    assert first.cells[0] == "user1250@example.com"
    assert resumed.bytes_read == state.offset + len(first_line(data, state.offset))


def first_line(data: bytes, offset: int) -> bytes:
    """The physical lines of the row starting at ``offset`` (one row here: row 1250 is single-line)."""
    return data[offset : data.index(b"\n", offset) + 1]


def test_bytes_read_is_exact_at_every_row_boundary_of_a_plain_file():
    data = people(375, newline="\r\n").encode()
    stream = CsvStream(io.BytesIO(data))
    ends = []
    for _row in stream:
        ends.append(stream.bytes_read)

    assert ends[-1] == len(data)
    assert all(data[end - 2 : end] == b"\r\n" for end in ends)
