"""Match CSV columns to Intercom attributes.

A header cell is normalised (case, spaces, dashes, underscores) and looked up among the standard
attributes of the import type and their common aliases; a column that matches nothing becomes a
custom data attribute with the header text as its name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from intercom_importer.errors import FileRejectedError

PEOPLE = "people"
COMPANIES = "companies"
IMPORT_TYPES = (PEOPLE, COMPANIES)

# target -> data type of the CSV value (how it is validated and coerced)
PEOPLE_ATTRIBUTES: dict[str, str] = {
    "id": "string",
    "external_id": "string",
    "email": "email",
    "name": "string",
    "phone": "string",
    "avatar": "url",
    "role": "role",
    "signed_up_at": "date",
    "last_seen_at": "date",
    "owner_id": "integer",
    "unsubscribed_from_emails": "boolean",
    "company_id": "string",
    "company_name": "string",
    # the contact's company (the row's company_id): sent once per company, as COMPANY_ATTRIBUTES say
    "company_plan": "string",
    "company_size": "integer",
    "company_website": "string",
    "company_industry": "string",
    "company_monthly_spend": "number",
}
# A people file's company columns -> the company attribute each one sets (company_id identifies it).
PEOPLE_COMPANY_COLUMNS: dict[str, str] = {
    "company_name": "name",
    "company_plan": "plan",
    "company_size": "size",
    "company_website": "website",
    "company_industry": "industry",
    "company_monthly_spend": "monthly_spend",
}
COMPANY_ATTRIBUTES: dict[str, str] = {
    "company_id": "string",
    "name": "string",
    "plan": "string",
    "size": "integer",
    "website": "string",
    "industry": "string",
    "monthly_spend": "number",
    "remote_created_at": "date",
}

_ALIASES: dict[str, dict[str, str]] = {
    PEOPLE: {
        "user_id": "external_id",
        "userid": "external_id",
        "externalid": "external_id",
        "customer_id": "external_id",
        "intercom_id": "id",
        "contact_id": "id",
        "e_mail": "email",
        "email_address": "email",
        "e_mail_address": "email",
        "mail": "email",
        "full_name": "name",
        "fullname": "name",
        "contact_name": "name",
        "phone_number": "phone",
        "telephone": "phone",
        "mobile": "phone",
        "avatar_url": "avatar",
        "contact_type": "role",
        "signed_up": "signed_up_at",
        "signup_date": "signed_up_at",
        "signed_up_date": "signed_up_at",
        "sign_up_date": "signed_up_at",
        "last_seen": "last_seen_at",
        "last_seen_date": "last_seen_at",
        "owner": "owner_id",
        "unsubscribed": "unsubscribed_from_emails",
        "unsubscribed_from_email": "unsubscribed_from_emails",
        "company": "company_name",
        "companyid": "company_id",
        "company_identifier": "company_id",
        "company_plan_name": "company_plan",
        "company_employees": "company_size",
        "company_number_of_employees": "company_size",
        "company_url": "company_website",
        "company_domain": "company_website",
        "company_spend": "company_monthly_spend",
        "company_mrr": "company_monthly_spend",
    },
    COMPANIES: {
        "id": "company_id",
        "companyid": "company_id",
        "company": "name",
        "company_name": "name",
        "employees": "size",
        "company_size": "size",
        "number_of_employees": "size",
        "url": "website",
        "domain": "website",
        "plan_name": "plan",
        "company_plan": "plan",
        "company_website": "website",
        "company_url": "website",
        "company_industry": "industry",
        "spend": "monthly_spend",
        "company_monthly_spend": "monthly_spend",
        "mrr": "monthly_spend",
        "created_at": "remote_created_at",
        "company_created_at": "remote_created_at",
        "created": "remote_created_at",
    },
}

# The error file's own columns (report.py writes them after the file's): ignored when a fixed error file
# is uploaded again. The last one names the import the file is of ("import job-<id>"), whatever the file is called.
ERROR_COLUMNS = ("error_line", "error_column", "error")
IGNORED_COLUMNS = frozenset(ERROR_COLUMNS)
IMPORT_COLUMN = re.compile(r"^\s*import (job-[0-9a-f]{20})\s*$")


def import_column(job_id: str) -> str:
    """The header of the error file's last column: the import it is of."""
    return f"import {job_id}"


def error_file_of(header: Sequence[str]) -> tuple[bool, str | None]:
    """Whether ``header`` is an error file's (its last columns are the error columns) and the import it names (None:
    none, as in error files written before they named it)."""
    cells = [h.strip().lower() for h in header]
    found = IMPORT_COLUMN.match(cells[-1]) if cells else None
    if found is not None and tuple(cells[-4:-1]) == ERROR_COLUMNS:
        return True, found.group(1)
    return tuple(cells[-3:]) == ERROR_COLUMNS, None


# Standard attributes an empty cell cannot erase, and why: ``"empty": "clear"`` on their column is refused
# when the mapping is read (Intercom's 2.14 API takes no null for them, or the import never removes them).
_IDENTIFIES = "identifies the record, so an import cannot erase it"
_NUMBER = "is a number Intercom's API cannot erase (it takes no null for it)"
_COMPANY_OF_CONTACT = "sets the contact's company, which a people file never erases or detaches"
NOT_CLEARABLE: dict[str, dict[str, str]] = {
    PEOPLE: {
        "id": _IDENTIFIES,
        "email": _IDENTIFIES,
        "external_id": _IDENTIFIES,
        "role": "cannot be empty in Intercom (a contact is a user or a lead)",
        "company_id": _COMPANY_OF_CONTACT,
        **{name: _COMPANY_OF_CONTACT for name in PEOPLE_COMPANY_COLUMNS},
    },
    COMPANIES: {
        "company_id": _IDENTIFIES,
        "size": _NUMBER,
        "monthly_spend": _NUMBER,
        "remote_created_at": _NUMBER,
    },
}

CUSTOM_NAME = re.compile(r"^[\w\- ]+$", re.UNICODE)


def normalise(header: str) -> str:
    """``"  E-Mail Address "`` -> ``"e_mail_address"``."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


INTERCOM_TYPES = {"string": "string", "integer": "integer", "float": "number", "boolean": "boolean", "date": "date"}
INFER = "infer"  # a new custom attribute whose type is inferred from the column's values


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    target: str  # a standard attribute, or the custom attribute name when ``custom``
    type: str  # string|email|url|role|date|integer|number|boolean, or "infer" for a new custom attribute
    custom: bool = False
    empty: str = "keep"  # keep: an empty cell leaves the value unchanged; clear: it erases it
    options: tuple[str, ...] | None = None  # allowed values of a list attribute

    def to_dict(self) -> dict:
        data = asdict(self)
        data["options"] = list(self.options) if self.options else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Column:
        values = dict(data)
        if values.get("options"):
            values["options"] = tuple(values["options"])
        return cls(**values)

    def intercom_type(self) -> str:
        """The Intercom ``data_type`` of a custom column."""
        return {"number": "float"}.get(self.type, self.type)


def standard_attributes(import_type: str) -> dict[str, str]:
    return PEOPLE_ATTRIBUTES if import_type == PEOPLE else COMPANY_ATTRIBUTES


def _find(header_text: str, wanted: dict[str, Any]) -> Any:
    """The mapping entry for a header cell: exact text first, then case/space-insensitive."""
    if header_text.strip() in wanted:
        return wanted[header_text.strip()]
    key = normalise(header_text)
    for name, entry in wanted.items():
        if normalise(name) == key:
            return entry
    return None


def map_header(header: list[str], import_type: str, mapping: dict[str, Any] | None = None) -> list[Column]:
    """Plan how each column is imported, or reject the header with every problem listed.

    ``mapping`` (see ``manifest.py``) overrides the automatic matching per column, declares custom
    attribute types and options, chooses empty-cell behaviour, and lists columns to ignore.
    """
    if import_type not in IMPORT_TYPES:
        raise FileRejectedError(f"Unknown import type {import_type!r}: use one of {', '.join(IMPORT_TYPES)}.")
    rules = _Rules.of(import_type, mapping or {})
    problems: list[str] = []
    columns: list[Column] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(header):
        column = _plan_column(index, raw, rules, problems)
        if column is None:
            continue
        if column.target in seen:
            problems.append(
                f"column {index + 1} ({raw!r}) and column {seen[column.target] + 1} ({header[seen[column.target]]!r}) "
                f"both map to '{column.target}': keep one of them or ignore one in the mapping file"
            )
            continue
        seen[column.target] = index
        columns.append(column)
    problems.extend(
        f"the mapping names column {name!r}, which is not in the file's header: fix the name"
        for name in rules.explicit
        if not any(normalise(h) == normalise(name) for h in header)
    )
    problems.extend(_identifier_problems(import_type, columns))
    if problems:
        raise FileRejectedError("The header row cannot be imported: " + "; ".join(problems) + ".")
    return columns


@dataclass(frozen=True)
class _Rules:
    """What decides a column's plan: the import type's attributes and aliases, and the mapping's entries."""

    import_type: str
    explicit: dict[str, Any]
    ignored: frozenset[str]

    @classmethod
    def of(cls, import_type: str, mapping: dict[str, Any]) -> _Rules:
        ignored = frozenset(normalise(name) for name in mapping.get("ignore") or [])
        return cls(import_type, dict(mapping.get("columns") or {}), ignored)

    @property
    def standard(self) -> dict[str, str]:
        return standard_attributes(self.import_type)

    def entry(self, raw: str) -> dict[str, Any]:
        """The mapping's entry for a header cell (``"name"`` is ``{"attribute": "name"}``), or ``{}``."""
        entry = _find(raw, self.explicit)
        if isinstance(entry, str):
            entry = {"attribute": entry}
        return entry or {}

    def standard_target(self, key: str) -> str | None:
        """The standard attribute a normalised name is, or is an alias of."""
        return key if key in self.standard else _ALIASES[self.import_type].get(key)


def _plan_column(index: int, raw: str, rules: _Rules, problems: list[str]) -> Column | None:
    """The column ``raw`` becomes; None when it is ignored or has a problem (added to ``problems``)."""
    position = f"column {index + 1}"
    if not raw.strip():
        problems.append(f"{position} has no name: give every column a header or delete the empty column")
        return None
    key = normalise(raw)
    entry = rules.entry(raw)
    if key in IGNORED_COLUMNS or IMPORT_COLUMN.match(raw.lower()) or key in rules.ignored or entry.get("ignore"):
        return None
    wanted = entry.get("attribute")
    target = rules.standard_target(normalise(wanted) if wanted else key)
    problem: str | None
    if target is not None:
        column, problem = _standard_column(index, raw, target, entry, rules)
    else:
        column, problem = _custom_column(index, raw, (wanted or raw).strip(), entry)
    if problem is not None:
        problems.append(f"{position} ({raw!r}) {problem}")
    return column


def _standard_column(
    index: int, raw: str, target: str, entry: dict[str, Any], rules: _Rules
) -> tuple[Column | None, str | None]:
    """A column mapped to a standard attribute, or what is wrong with its mapping."""
    empty = entry.get("empty", "keep")
    if entry.get("type") or entry.get("options"):
        return None, (
            f"maps to the standard attribute '{target}', whose type is fixed: remove 'type'/'options' from its mapping"
        )
    why = NOT_CLEARABLE[rules.import_type].get(target) if empty == "clear" else None
    if why:
        return None, (
            f'maps to \'{target}\', which {why}: remove "empty": "clear" from its '
            "mapping (an empty cell then leaves the value unchanged)"
        )
    return Column(index, raw, target, rules.standard[target], empty=empty), None


def _custom_column(index: int, raw: str, name: str, entry: dict[str, Any]) -> tuple[Column | None, str | None]:
    """A column that becomes the custom attribute ``name``, or why its name cannot be one."""
    if not CUSTOM_NAME.match(name):
        return None, (
            f"is not a standard attribute, and as a custom attribute name {name!r} may only contain letters, "
            "digits, spaces, hyphens and underscores: rename the column or map it in the mapping file"
        )
    declared = entry.get("type")
    kind = INTERCOM_TYPES[declared] if declared else ("string" if entry.get("options") else INFER)
    options = tuple(entry["options"]) if entry.get("options") else None
    empty = entry.get("empty", "keep")
    return Column(index, raw, name, kind, custom=True, empty=empty, options=options), None


def _identifier_problems(import_type: str, columns: list[Column]) -> list[str]:
    """What the file as a whole lacks: the identifier of its records, the company of company columns."""
    problems: list[str] = []
    targets = {c.target for c in columns}
    if import_type == PEOPLE and not targets & {"email", "external_id", "id"}:
        problems.append(
            "no identifier column: a people file needs an 'email' or 'external_id' (or 'user_id') column "
            "so rows can be matched to existing contacts"
        )
    if import_type == PEOPLE and "company_id" not in targets:
        problems.extend(
            f"column {c.index + 1} ({c.header!r}) sets the contact's company's '{PEOPLE_COMPANY_COLUMNS[c.target]}', "
            "but the file has no 'company_id' column to say which company: add a company_id column, or ignore "
            "this column in the mapping file"
            for c in columns
            if c.target in PEOPLE_COMPANY_COLUMNS
        )
    if import_type == COMPANIES and "company_id" not in targets:
        problems.append("no 'company_id' column: a companies file needs it to create or update companies")
    return problems
