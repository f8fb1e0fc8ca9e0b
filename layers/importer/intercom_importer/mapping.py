"""Match CSV columns to Intercom attributes.

A header cell is normalised (case, spaces, dashes, underscores) and looked up among the standard
attributes of the import type and their common aliases; a column that matches nothing becomes a
custom data attribute with the header text as its name.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

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
        "type": "role",
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
        "spend": "monthly_spend",
        "mrr": "monthly_spend",
        "created_at": "remote_created_at",
        "company_created_at": "remote_created_at",
        "created": "remote_created_at",
    },
}

# The error file's own columns: ignored when a fixed error file is uploaded again.
IGNORED_COLUMNS = frozenset({"error_line", "error_column", "error"})

CUSTOM_NAME = re.compile(r"^[\w\- ]+$", re.UNICODE)


def normalise(header: str) -> str:
    """``"  E-Mail Address "`` -> ``"e_mail_address"``."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    target: str  # a standard attribute, or the custom attribute name when ``custom``
    type: str  # string|email|url|role|date|integer|number|boolean
    custom: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Column:
        return cls(**data)


def standard_attributes(import_type: str) -> dict[str, str]:
    return PEOPLE_ATTRIBUTES if import_type == PEOPLE else COMPANY_ATTRIBUTES


def map_header(header: list[str], import_type: str) -> list[Column]:
    """Plan how each column is imported, or reject the header with every problem listed."""
    if import_type not in IMPORT_TYPES:
        raise FileRejectedError(f"Unknown import type {import_type!r}: use one of {', '.join(IMPORT_TYPES)}.")
    standard = standard_attributes(import_type)
    aliases = _ALIASES[import_type]
    problems: list[str] = []
    columns: list[Column] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(header):
        position = f"column {index + 1}"
        if not raw.strip():
            problems.append(f"{position} has no name: give every column a header or delete the empty column")
            continue
        key = normalise(raw)
        if key in IGNORED_COLUMNS:
            continue
        target = key if key in standard else aliases.get(key)
        if target is not None:
            column = Column(index, raw, target, standard[target])
        else:
            name = raw.strip()
            if not CUSTOM_NAME.match(name):
                problems.append(
                    f"{position} ({raw!r}) is not a standard attribute, and as a custom attribute name it may "
                    "only contain letters, digits, spaces, hyphens and underscores: rename the column"
                )
                continue
            column = Column(index, raw, name, "string", custom=True)
        if column.target in seen:
            problems.append(
                f"{position} ({raw!r}) and column {seen[column.target] + 1} both map to "
                f"'{column.target}': keep one of them"
            )
            continue
        seen[column.target] = index
        columns.append(column)
    targets = {c.target for c in columns}
    if import_type == PEOPLE and not targets & {"email", "external_id", "id"}:
        problems.append(
            "no identifier column: a people file needs an 'email' or 'external_id' (or 'user_id') column "
            "so rows can be matched to existing contacts"
        )
    if import_type == COMPANIES and "company_id" not in targets:
        problems.append("no 'company_id' column: a companies file needs it to create or update companies")
    if problems:
        raise FileRejectedError("The header row cannot be imported: " + "; ".join(problems) + ".")
    return columns
