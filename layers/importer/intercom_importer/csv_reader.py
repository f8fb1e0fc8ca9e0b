"""Streaming CSV reading: sniff what the bytes are, decode, find the dialect, yield rows with line numbers.

Nothing here holds more than one buffered block (64 KiB) and one row in memory, whatever the file size.
Line numbers are physical lines of the original file (1 = the first line), so a quoted cell that spans
lines still points the user at the line where its row starts. Blank lines after the header (empty, whitespace
only, cells all empty or whitespace: ``,,``, ``"",""``) are not rows: skipped, counted in ``blank_lines``.

Lines are split in the byte stream (UTF-16: in code units) before they are decoded, so the stream knows
the exact byte position of every row boundary. ``CsvStream.checkpoint()`` captures it with the dialect
and header, and ``CsvStream.resume()`` continues from there in another process: a plain file from a
ranged read starting at that byte, a gzip file by decompressing again and skipping the bytes before it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any, Protocol

from intercom_importer.errors import FileRejectedError

BLOCK = 64 * 1024
GZIP_MAGIC = b"\x1f\x8b"
MAX_CELL_BYTES = 1024 * 1024  # a runaway quote is reported, not read into memory to the end of the file
DELIMITERS = (",", ";", "\t", "|")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BYTE_LINE = re.compile(rb"[^\r\n]*(?:\r\n?|\n)")
_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)")

csv.field_size_limit(MAX_CELL_BYTES)

# A header cell that is an email address or a URL is data, not a column name (no attribute is named so).
_DATA_LIKE = (
    (re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), "an email address"),
    (re.compile(r"^https?://\S+$", re.IGNORECASE), "a URL"),
)

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx/.xlsm workbook or another Office file)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls (or other Office 97-2003) file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BZh", "a bzip2 archive"),
)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Row:
    line: int  # physical line where the row starts
    cells: list[str]


@dataclass(frozen=True)
class Dialect:
    encoding: str  # codec used to decode ("utf-8-sig", "utf-16", "cp1252")
    encoding_label: str  # what to tell the user ("UTF-8 with BOM", ...)
    delimiter: str
    skipped_lines: int  # lines before the header (an Excel "sep=" line)


@dataclass(frozen=True)
class StreamCheckpoint:
    """Where a stream stopped, at a row boundary: everything needed to continue reading from there."""

    codec: str  # the codec lines are decoded with (BOM resolved: "utf-8", "utf-16-le", "cp1252"...)
    errors: str  # "strict" or the UTF-8-then-Windows-1252 fallback
    encoding: str
    encoding_label: str
    delimiter: str
    skipped_lines: int
    header: list[str]
    header_line: int
    offset: int  # bytes of the (decompressed) file before the next row
    line: int  # physical lines before the next row
    compressed: bool
    blank_lines: int = 0  # blank lines skipped before the next row (a checkpoint of an older version: 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamCheckpoint:
        return cls(**{**data, "header": list(data["header"])})


class _Lines:
    """Physical lines of a byte stream, decoded, with the exact byte position after each one.

    ``io.TextIOWrapper`` decodes whole blocks ahead, so it cannot tell where a line ends in the bytes. Here
    each block is split at LF, CRLF or CR (as with ``newline=""``) before decoding: in UTF-8 and the
    single-byte codecs those bytes never occur inside a character. An all-ASCII block (the common case) is
    decoded at once; other lines one by one, when they are read, so a decoding error names its own line.
    UTF-16 is decoded block by block and split in text, where each code unit is two bytes.
    """

    def __init__(self, source: Any, codec: str, errors: str, offset: int = 0) -> None:
        self._source = source
        self._eof = False
        self._error: UnicodeDecodeError | None = None
        self._queue: deque[Any] = deque()
        self.offset = offset
        head = source.peek(4)[:4] if offset == 0 and hasattr(source, "peek") else b""
        name = codecs.lookup(codec).name
        if name == "utf-8-sig":
            codec = "utf-8"
            if head.startswith(codecs.BOM_UTF8):
                self.skip(len(codecs.BOM_UTF8))
        elif name == "utf-16":
            codec = "utf-16-be" if head.startswith(codecs.BOM_UTF16_BE) else "utf-16-le"
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                self.skip(2)
        self.codec = codec
        self.errors = errors
        self._wide = codecs.lookup(codec).name.startswith("utf-16")
        self._rest: Any = "" if self._wide else b""
        self._decoder = codecs.getincrementaldecoder(codec)(errors) if self._wide else None
        self.iter_lines = self._lines()

    def skip(self, count: int) -> None:
        """Discard the next ``count`` bytes (the BOM; the part of a gzip file before a checkpoint)."""
        while count > 0:
            data = self._source.read(min(BLOCK, count))
            if not data:
                break
            count -= len(data)
            self.offset += len(data)

    def _fill(self) -> None:
        data = self._source.read(BLOCK)
        self._eof = not data
        text: Any  # bytes when lines are split before decoding, else str
        lf: Any
        cr: Any
        if self._decoder is None:
            text, lf, cr = self._rest + data, b"\n", b"\r"
        else:
            try:
                text = self._rest + self._decoder.decode(data, final=self._eof)
            except UnicodeDecodeError as exc:  # raised once the lines before the bad bytes are read
                self._error, self._eof, self._rest = exc, True, ""
                return
            lf, cr = "\n", "\r"
        last = max(text.rfind(lf), text.rfind(cr))
        if self._eof:
            cut = len(text)
        elif last == len(text) - 1 and text[last:] == cr:  # a CR LF may straddle two blocks
            cut = max(text.rfind(lf, 0, last), text.rfind(cr, 0, last)) + 1
        else:
            cut = last + 1
        region, self._rest = text[:cut], text[cut:]
        if self._decoder is None and region.isascii():
            region = region.decode("ascii")
        lines = (_BYTE_LINE if isinstance(region, bytes) else _TEXT_LINE).findall(region)
        self._queue.extend(lines)
        if self._eof:
            tail = region[sum(map(len, lines)) :]
            if tail:
                self._queue.append(tail)

    def readline(self) -> str:
        """The next line with its line break ("" at the end)."""
        return next(self.iter_lines, "")

    def _lines(self) -> Iterator[str]:
        queue, codec, errors, wide = self._queue, self.codec, self.errors, self._wide
        while True:
            while queue:
                line = queue.popleft()
                if wide:
                    self.offset += len(line.encode(codec))
                elif isinstance(line, bytes):
                    self.offset += len(line)
                    line = line.decode(codec, errors)
                else:
                    self.offset += len(line)
                yield line
            if self._eof:
                if self._error is not None:
                    raise self._error
                return
            self._fill()


class _RawAdapter(io.RawIOBase):
    """Presents any object with ``read(n)`` (a botocore StreamingBody, a file) as a raw binary stream."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        # Fill the whole buffer unless the source ends: a source may return fewer bytes than asked
        # (a socket, a pipe), and the encoding sniff needs the full first block.
        view = memoryview(buffer).cast("B")
        n = 0
        while n < len(view):
            data = self._source.read(len(view) - n)
            if not data:
                break
            view[n : n + len(data)] = data
            n += len(data)
        self.bytes_read += n
        return n


def _describe_binary(head: bytes) -> str | None:
    return next((what for signature, what in _SIGNATURES if head.startswith(signature)), None)


FALLBACK = "importer-cp1252-fallback"


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode bytes UTF-8 refuses as Windows-1252 (undefined Windows-1252 bytes still fail)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    try:
        return exc.object[exc.start : exc.end].decode("cp1252"), exc.end
    except UnicodeDecodeError:
        raise exc from None  # the original error knows where in the block it is (for the line number)


codecs.register_error(FALLBACK, _cp1252_fallback)


def _sniff_encoding(head: bytes, complete: bool) -> tuple[str, str]:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 with BOM"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16 (Excel 'Unicode text')"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le", "UTF-16 LE without BOM"
    if head.isascii() and not complete:
        # Nothing tells UTF-8 from Windows-1252 yet: read UTF-8, and take a later byte UTF-8 refuses as
        # Windows-1252 (an Excel export whose first accent comes late), never as mojibake.
        return "utf-8", "UTF-8 (or Windows-1252)"
    try:
        head.decode("utf-8")
        return "utf-8", "UTF-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if not complete and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8", "UTF-8"
        return "cp1252", "Windows-1252 (Excel 'CSV' on Windows)"


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: 0 for d in DELIMITERS}
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvStream:
    """Iterates the rows of a CSV byte stream. ``header`` is read on construction.

    Raises ``FileRejectedError`` with a user-facing message for binary files, undecodable bytes,
    NUL bytes, unbalanced quotes and a missing header.
    """

    def __init__(self, source: Readable | IO[bytes], *, encoding: str | None = None) -> None:
        self._raw = _RawAdapter(source)
        self._buffered = io.BufferedReader(self._raw, buffer_size=BLOCK)
        head = self._buffered.peek(BLOCK)[:BLOCK]
        self.compressed = head.startswith(GZIP_MAGIC)
        if self.compressed:  # .csv.gz streams the same way: decompressed block by block
            self._buffered = io.BufferedReader(
                _RawAdapter(gzip.GzipFile(fileobj=self._buffered, mode="rb")), buffer_size=BLOCK
            )
            try:
                head = self._buffered.peek(BLOCK)[:BLOCK]
            except (OSError, EOFError, zlib.error) as exc:
                raise FileRejectedError(
                    f"The file looks like gzip but cannot be decompressed ({exc}). Compress it again with gzip, "
                    "or upload the plain .csv file."
                ) from exc
        if not head:
            raise FileRejectedError("The file is empty. Upload a CSV file with a header row and data rows.")
        binary = _describe_binary(head)
        if binary:
            raise FileRejectedError(
                f"This file is {binary}, not a CSV text file. Open it in a spreadsheet program and "
                "save or export it as 'CSV UTF-8 (comma delimited)', then upload the .csv file."
            )
        complete = len(head) < BLOCK
        if encoding:
            codec, label = encoding, encoding
        else:
            codec, label = _sniff_encoding(head, complete)
        if b"\x00" in head and not codec.startswith("utf-16"):
            line = head[: head.index(b"\x00")].count(b"\n") + 1
            raise FileRejectedError(
                f"Line {line}: the file contains NUL bytes, so it is not a plain-text CSV (it may be a binary or a "
                "corrupted export). Re-export it from the source as CSV UTF-8."
            )
        errors = FALLBACK if label == "UTF-8 (or Windows-1252)" else "strict"
        self._text = _Lines(self._buffered, codec, errors)
        first = self._read_first_line()
        skipped = 0
        delimiter = None
        if first.lower().startswith("sep=") and len(first.rstrip("\r\n")) == 5:
            delimiter = first[4]
            skipped = 1
            first = self._read_first_line()
        if not first.strip():
            raise FileRejectedError(
                "The file has no header row: its first line is empty. The first line must name the "
                "columns, for example: email,name,external_id"
            )
        delimiter = delimiter or _sniff_delimiter(first)
        self.dialect = Dialect(codec, label, delimiter, skipped)
        self._line = skipped  # physical lines consumed so far
        lines = self._lines(first)
        self._reader = csv.reader(lines, delimiter=delimiter, strict=True)
        self.blank_lines = 0  # blank lines skipped so far (since the start of the file)
        header_row = self._next_row(header=True)
        if header_row is None:
            raise FileRejectedError("The file has no header row.")
        self.header_line = header_row.line
        self.header = [cell.strip().lstrip("\ufeff") for cell in header_row.cells]
        for cell in self.header:
            for pattern, what in _DATA_LIKE:
                if pattern.match(cell):
                    raise FileRejectedError(
                        f"Line {self.header_line} looks like data, not a header row: {cell!r} is {what}. The first "
                        "line must name the columns, for example: email,name,external_id. Add that line above "
                        "the data and upload the file again."
                    )
        self._pending: Row | None = self._next_row()
        if self._pending is None:
            raise FileRejectedError(
                "The file has a header row but no data rows, so there is nothing to import. Add one row per "
                "contact or company under the header and upload it again."
            )

    @classmethod
    def resume(cls, source: Readable | IO[bytes], checkpoint: StreamCheckpoint) -> CsvStream:
        """The stream continued at ``checkpoint`` (dialect and header as they were found at the start).

        For a plain file ``source`` must start at byte ``checkpoint.offset`` (a ranged GET: nothing before it
        is read again). A gzip file cannot be entered in the middle: ``source`` is the whole object,
        decompressed again from its start, and the bytes before the offset are skipped without being parsed.
        """
        self = cls.__new__(cls)
        self._raw = _RawAdapter(source)
        self._buffered = io.BufferedReader(self._raw, buffer_size=BLOCK)
        self.compressed = checkpoint.compressed
        base = checkpoint.offset
        if self.compressed:
            self._buffered = io.BufferedReader(
                _RawAdapter(gzip.GzipFile(fileobj=self._buffered, mode="rb")), buffer_size=BLOCK
            )
            base = 0
        self.dialect = Dialect(
            checkpoint.encoding, checkpoint.encoding_label, checkpoint.delimiter, checkpoint.skipped_lines
        )
        self._text = _Lines(self._buffered, checkpoint.codec, checkpoint.errors, offset=base)
        if self.compressed:
            try:
                self._text.skip(checkpoint.offset)
            except (OSError, EOFError, zlib.error) as exc:
                raise FileRejectedError(
                    f"The compressed file is damaged or cut short ({exc}). Compress the CSV again and upload it, "
                    "or upload the plain .csv file."
                ) from exc
        self._line = checkpoint.line
        self.blank_lines = checkpoint.blank_lines
        self.header = list(checkpoint.header)
        self.header_line = checkpoint.header_line
        self._reader = csv.reader(self._lines(None), delimiter=checkpoint.delimiter, strict=True)
        self._pending = self._next_row()  # None when the checkpoint was taken after the last row
        return self

    def checkpoint(self) -> StreamCheckpoint:
        """Where the stream stands after the last row it yielded (take it between rows, never mid-row)."""
        if self._pending is not None:
            raise RuntimeError("checkpoint() before the first row was taken")
        return StreamCheckpoint(
            codec=self._text.codec,
            errors=self._text.errors,
            encoding=self.dialect.encoding,
            encoding_label=self.dialect.encoding_label,
            delimiter=self.dialect.delimiter,
            skipped_lines=self.dialect.skipped_lines,
            header=list(self.header),
            header_line=self.header_line,
            offset=self._text.offset,
            line=self._line + self._reader.line_num,
            compressed=self.compressed,
            blank_lines=self.blank_lines,
        )

    @property
    def position(self) -> int:
        """Exact bytes of the (decompressed) file consumed up to the end of the last row read."""
        return self._text.offset

    @property
    def bytes_read(self) -> int:
        """Bytes of the uploaded object consumed so far (for progress): exact at the end of the last row read
        for a plain file; for gzip, the compressed bytes read so far (rows have no compressed position)."""
        return self._raw.bytes_read if self.compressed else self._text.offset

    def _read_first_line(self) -> str:
        try:
            return self._text.readline()
        except UnicodeDecodeError as exc:
            raise self._decode_error(exc, 1) from exc

    def _decode_error(self, exc: UnicodeDecodeError, line: int) -> FileRejectedError:
        # ``line`` is the line being read; the decoder works on whole blocks, so the bad bytes may sit
        # some lines further on: count the line breaks before them.
        before = exc.object[: exc.start]
        try:
            text = bytes(before).decode(exc.encoding, errors="replace")
        except LookupError:
            text = bytes(before).decode("latin-1")
        line += len(_LINE_BREAK.findall(text))
        return FileRejectedError(
            f"Line {line}: the bytes {exc.object[exc.start : exc.start + 4]!r} are not valid "
            f"{self.dialect.encoding_label if hasattr(self, 'dialect') else 'text'}. Save the file as "
            "'CSV UTF-8' in your spreadsheet program and upload it again."
        )

    def _lines(self, first: str | None) -> Iterator[str]:
        number = self._line  # physical number of the last line yielded
        if first is not None:
            yield first
            number += 1
        source = self._text.iter_lines
        while True:
            try:
                line = next(source, "")
            except UnicodeDecodeError as exc:
                raise self._decode_error(exc, number + 1) from exc
            except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt .gz
                raise FileRejectedError(
                    f"Line {number + 1}: the compressed file is damaged or cut short ({exc}). Compress the CSV "
                    "again and upload it, or upload the plain .csv file."
                ) from exc
            if not line:
                return
            number += 1
            if "\x00" in line:
                raise FileRejectedError(
                    f"Line {number}: contains a NUL byte, so the file is not "
                    "plain text. Re-export it from the source as CSV UTF-8."
                )
            yield line

    def _next_row(self, *, header: bool = False) -> Row | None:
        """The next row; a blank one is skipped and counted (the header is taken as it is)."""
        while True:
            start = self._line + self._reader.line_num + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                message = str(exc)
                if "field larger than field limit" in message or "unexpected end of data" in message:
                    raise FileRejectedError(
                        f"Line {start}: a quoted value is never closed (unbalanced double quote), so the "
                        'rest of the file cannot be read. Close the quote or remove the stray " character.'
                    ) from exc
                raise FileRejectedError(f"Line {start}: the CSV quoting is malformed ({message}).") from exc
            if header or any(cell.strip() for cell in cells):
                return Row(start, cells)
            self.blank_lines += 1

    def __iter__(self) -> Iterator[Row]:
        row: Row | None = self._pending  # the first data row, read ahead to reject header-only files
        self._pending = None
        while row is not None:
            yield row
            row = self._next_row()
