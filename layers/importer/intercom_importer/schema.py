"""Row validation against a JSON Schema built from the column plan, and coercion to Intercom's types.

A row is validated as a JSON object of ``target -> cell text`` (empty cells left out: an empty cell
means "leave unchanged"). The schema is compiled with fastjsonschema for the hot path (about 15x
faster than jsonschema on this machine, see shared/docs/measurements.md); only when a row fails does
jsonschema walk it to produce every error with its column, which keeps the messages complete and
the common case fast.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from intercom_importer.mapping import PEOPLE, Column

MAX_TEXT = 255
IDENTIFIERS = ("email", "external_id", "id")  # what identifies a contact (a user needs email or external_id)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # what report.neutralise prefixes with "'"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def _ci(*words: str) -> str:
    """A case-insensitive alternation usable in JSON Schema (ECMA regex has no inline flags)."""
    return "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in w) for w in words)


TRUE_WORDS = ("true", "yes", "y", "1")
FALSE_WORDS = ("false", "no", "n", "0")

_EMAIL = rf"^[^@\s{INVISIBLE}\"(),:;<>\[\]\\]+@(?:[^@\s{INVISIBLE}.\"(),:;<>\[\]\\]+\.)+[^@\s{INVISIBLE}.\"(),:;<>\[\]\\\d]{{2,}}$"
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?$"
_SLASHED = r"^\d{1,2}[/.]\d{1,2}[/.]\d{4}$"
_EPOCH = r"^\d{9,13}$"

TYPE_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string", "maxLength": MAX_TEXT},
    "email": {"type": "string", "maxLength": MAX_TEXT, "pattern": _EMAIL},
    "url": {"type": "string", "maxLength": 2048, "pattern": r"^https?://\S+$"},
    "role": {"type": "string", "pattern": f"^({_ci('user', 'lead')})$"},
    "date": {"type": "string", "anyOf": [{"pattern": _ISO}, {"pattern": _SLASHED}, {"pattern": _EPOCH}]},
    "integer": {"type": "string", "pattern": r"^[+-]?\d{1,18}$"},
    "number": {"type": "string", "pattern": r"^[+-]?(\d+(\.\d*)?|\.\d+)$"},
    "boolean": {"type": "string", "pattern": f"^({_ci(*TRUE_WORDS, *FALSE_WORDS)})$"},
    "infer": {"type": "string", "maxLength": MAX_TEXT},
}

FIXES: dict[str, str] = {
    "string": f"shorten it to at most {MAX_TEXT} characters",
    "email": "use the form name@example.com, with no spaces, invisible characters or trailing dot",
    "url": "use a full URL starting with https://",
    "role": "use 'user' or 'lead'",
    "date": "use YYYY-MM-DD, an ISO 8601 date-time (2026-11-28T09:30:00Z), DD/MM/YYYY, or unix seconds",
    "integer": "use a whole number without separators, e.g. 42",
    "number": "use a number with a dot for decimals and no currency sign, e.g. 19.99",
    "boolean": "use true/false, yes/no or 1/0",
    "infer": f"shorten it to at most {MAX_TEXT} characters",
    "options": "use one of the attribute's allowed values",
}
WHAT: dict[str, str] = {
    "string": "is too long",
    "email": "is not a valid email address",
    "url": "is not a valid URL",
    "role": "is not a valid role",
    "date": "is not a date that can be read",
    "integer": "is not a whole number",
    "number": "is not a number",
    "boolean": "is not a yes/no value",
    "infer": "is too long",
    "options": "is not one of the allowed values",
}


@dataclass(frozen=True)
class Problem:
    """One validation problem, as shown in the report, the email and the error file."""

    line: int
    column: str  # header text of the column, or "" for the whole row
    value: str
    message: str  # what is wrong and how to fix it

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "value": self.value, "message": self.message}

    @property
    def kind(self) -> str:
        return problem_kind(self.column, self.message)


def restore_cell(cell: str) -> str:
    """A cell as it was before the error file neutralised it (``'=x`` -> ``=x``, see report.neutralise)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_PREFIXES else cell


OTHER_PROBLEMS = "other problems (see the error file)"  # the kind beyond the kinds counted one by one


def problem_kind(column: str, message: str) -> str:
    """The grouping key of a problem (the job's ``problem_kinds``, the email's "top problems"): the column
    and what is wrong with it, without the fix."""
    what = message.split(":")[0]
    return f"{column}: {what}" if column else what


def build_schema(columns: Sequence[Column], import_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one row for this column plan."""
    properties = {}
    for c in columns:
        prop = dict(TYPE_SCHEMAS[c.type])
        if c.options:
            prop["enum"] = list(c.options)
        properties[c.target] = prop
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if import_type != PEOPLE:
        schema["required"] = ["company_id"]
    return schema


class RowValidator:
    """Validates and coerces rows of one file. Build once per file (compiling takes milliseconds)."""

    def __init__(self, columns: Sequence[Column], import_type: str, *, day_first: bool = True) -> None:
        self.columns = list(columns)
        self.import_type = import_type
        self.day_first = day_first
        self.width = max((c.index for c in self.columns), default=-1) + 1
        self.schema = build_schema(self.columns, import_type)
        self._fast = fastjsonschema.compile(self.schema)
        self._slow = Draft202012Validator(self.schema)
        self._by_target = {c.target: c for c in self.columns}
        self._clear = [c for c in self.columns if c.empty == "clear"]
        self._slots = [(c.index, c.target) for c in self.columns]
        self._converters = {c.target: _converter(c.type, day_first) for c in self.columns}

    def check(self, line: int, cells: list[str], header_width: int) -> tuple[dict[str, Any] | None, list[Problem]]:
        """Return ``(record, [])`` for a valid row or ``(None, problems)``.

        The record maps targets to coerced values (str, int, float, bool), empty cells left out.
        """
        if len(cells) != header_width:
            fix = (
                "a value probably contains the delimiter: put that value in double quotes"
                if len(cells) > header_width
                else "add the missing cells (empty cells are fine) so every row has one per column"
            )
            return None, [
                Problem(line, "", "", f"has {len(cells)} cells but the header has {header_width} columns: {fix}")
            ]
        raw: dict[str, str] = {}
        for index, target in self._slots:
            value = cells[index].strip()
            if value:
                if value[0] == "'":
                    value = restore_cell(value).strip()
                    if not value:
                        continue
                raw[target] = value
        problems: list[Problem] = []
        try:
            self._fast(raw)
        except fastjsonschema.JsonSchemaException:
            problems = self._explain(line, raw)
        failed = {p.column for p in problems} if problems else ()
        record: dict[str, Any] = {}
        converters = self._converters
        for target, value in raw.items():
            convert = converters[target]
            if convert is None:
                record[target] = value
                continue
            column = self._by_target[target]
            if column.header in failed:  # already reported; coercing it would only add a vaguer message
                continue
            try:
                record[target] = convert(value)
            except ValueError as exc:
                problems.append(Problem(line, column.header, _show(value), f"{exc}: {FIXES[column.type]}"))
        if record.get("role") == "user" and not any(target in raw for target in IDENTIFIERS):
            problems.append(
                Problem(
                    line,
                    self._by_target["role"].header,
                    _show(raw["role"]),
                    "a user needs an email or external_id, and this row has neither: fill in the email or "
                    "external_id, or set the role to 'lead' (an empty role makes such a row a lead)",
                )
            )
        if problems:
            return None, problems
        for column in self._clear:
            if column.target not in raw:
                record[column.target] = None  # the mapping asked for empty cells to erase the value
        return record, []

    def _explain(self, line: int, raw: dict[str, str]) -> list[Problem]:
        problems: list[Problem] = []
        for error in sorted(self._slow.iter_errors(raw), key=lambda e: list(e.absolute_path)):
            target = str(error.absolute_path[0]) if error.absolute_path else ""
            column = self._by_target.get(target)
            if column is None:  # a "required" error: the field is missing
                missing = error.message.split("'")[1] if "'" in error.message else error.message
                missing_column = self._by_target.get(missing)
                header = missing_column.header if missing_column else missing
                problems.append(Problem(line, header, "", f"'{header}' is required and empty: fill it in"))
                continue
            value = raw.get(target, "")
            what = WHAT[column.type]
            fix = FIXES[column.type]
            if error.validator == "enum":
                allowed = ", ".join(str(v) for v in error.validator_value)
                what, fix = WHAT["options"], f"use one of: {allowed}"
            elif error.validator == "maxLength":
                what = f"is {len(value)} characters long, over the limit of {error.validator_value}"
            elif any(ch in value for ch in INVISIBLE):
                what = f"{what}: it contains an invisible character (zero-width space or BOM)"
            problems.append(Problem(line, column.header, _show(value), f"{what}: {fix}"))
        return problems

    def _coerce(self, kind: str, value: str) -> Any:
        return coerce(kind, value, day_first=self.day_first)


def _lower(value: str) -> str:
    return value.lower()


def _boolean(value: str) -> bool:
    return value.lower() in TRUE_WORDS


def _converter(kind: str, day_first: bool) -> Any:
    """The conversion of a validated cell for ``kind`` (None: the text itself)."""
    if kind in ("email", "role"):
        return _lower
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "boolean":
        return _boolean
    if kind == "date":
        return _date_day_first if day_first else _date_month_first
    return None


@functools.lru_cache(maxsize=65536)
def _date_day_first(value: str) -> int:
    return parse_date(value, day_first=True)


@functools.lru_cache(maxsize=65536)
def _date_month_first(value: str) -> int:
    return parse_date(value, day_first=False)


def coerce(kind: str, value: str, *, day_first: bool = True) -> Any:
    """A validated cell as the JSON value Intercom expects for ``kind``."""
    if kind == "email":
        return value.lower()
    if kind == "role":
        return value.lower()
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        return value.lower() in TRUE_WORDS
    if kind == "date":
        return parse_date(value, day_first=day_first)
    return value


def parse_date(value: str, *, day_first: bool = True) -> int:
    """Unix seconds for an ISO 8601 date/date-time, DD/MM/YYYY (or MM/DD/YYYY), or unix s/ms."""
    if value.isdigit():
        number = int(value)
        return number // 1000 if len(value) >= 12 else number
    if "/" in value or (value.count(".") == 2 and len(value) <= 10):
        parts = re.split(r"[/.]", value)
        first, second, year = (int(p) for p in parts)
        day, month = (first, second) if day_first else (second, first)
        try:
            return int(datetime(year, month, day, tzinfo=UTC).timestamp())
        except ValueError as exc:
            order = "DD/MM/YYYY" if day_first else "MM/DD/YYYY"
            raise ValueError(f"is not a real calendar date when read as {order}") from exc
    text = value.replace(" ", "T", 1) if " " in value else value
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("is not a real calendar date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    # control characters, zero-width and bidi-override characters, line and paragraph separators
    if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}:
        return f"\\u{ord(ch):04x}"
    return ch


def _show(value: str, limit: int = 80) -> str:
    """A value as it may appear in a report: truncated, with invisible and control characters
    (newlines, zero-width spaces, bidi overrides, ...) written as escapes, so a report line shows
    what the cell holds and can never be reordered or split by it."""
    shown = "".join(_visible(ch) for ch in value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


_INT = re.compile(r"^[+-]?\d{1,18}$")
_LEADING_ZERO = re.compile(r"^[+-]?0\d")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)$")
_BOOL = {*TRUE_WORDS, *FALSE_WORDS} - {"1", "0"}
_DATE = re.compile(f"({_ISO})|({_SLASHED})")


class TypeSniffer:
    """Infers a new custom attribute's type from every value of its column (narrowest that fits all).

    integer > float > boolean > date > string; an empty column is a string. Values that are
    only digits stay numbers (a unix timestamp column is declared as a date in the mapping file),
    unless one has a leading zero (``02134``, ``007``): codes, whose zeros a number would drop.
    """

    def __init__(self, day_first: bool = True) -> None:
        self.day_first = day_first
        self.candidates = {"integer", "float", "boolean", "date"}
        self.seen = 0

    def add(self, value: str) -> None:
        self.seen += 1
        if not self.candidates:
            return
        lowered = value.lower()
        if _LEADING_ZERO.match(value):  # a zip code or an id: kept as text, zeros and all
            self.candidates -= {"integer", "float"}
        if "integer" in self.candidates and not _INT.match(value):
            self.candidates.discard("integer")
        if "float" in self.candidates and not _FLOAT.match(value):
            self.candidates.discard("float")
        if "boolean" in self.candidates and lowered not in _BOOL:
            self.candidates.discard("boolean")
        if "date" in self.candidates:
            try:
                if not _DATE.match(value):
                    raise ValueError(value)
                parse_date(value, day_first=self.day_first)
            except ValueError:
                self.candidates.discard("date")

    def result(self) -> str:
        """The Intercom data type."""
        if self.seen == 0:
            return "string"
        for kind in ("integer", "float", "boolean", "date"):
            if kind in self.candidates:
                return kind
        return "string"
