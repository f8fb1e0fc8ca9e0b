"""Data attributes: the standard ones, creating custom ones, and checking custom attribute values.

Faithful to Intercom:
- custom attributes must exist (``POST /data_attributes``) before a contact or company can carry them;
  an unknown key gives ``400 parameter_invalid "Custom attribute '<name>' does not exist"``;
- a name is unique across the contact ("people") and company models, with Intercom's message
  ``You already have '<n>' in your company data. To save this as new people data, use a different name.``
  (the same-model case uses the same sentence, as the spec's "Attribute already exists" example does);
- names may only hold letters, digits, currency symbols, hyphens, spaces and underscores (the message
  is Intercom's); ``options`` needs at least two options; 250 custom attributes per workspace;
- the listing reports ``data_type`` within the 2.14 enum (``string|integer|float|boolean|date``): a
  list attribute is reported as ``string`` with ``options``, a ``datetime`` one as ``date``.

Sandbox choices (not confirmed against Intercom):
- ``$`` is refused although it is a currency symbol (old Messenger docs forbid ``.`` and ``$``);
- name clashes are detected case-insensitively; the custom attribute keys themselves are case-sensitive;
  a standard attribute name is refused for its own model only (``industry`` is free for contacts);
- the cap counts both models together;
- wrong value types give ``400 type_mismatch`` and a value outside a list attribute's options
  ``400 parameter_invalid``, with sandbox wording; ``null`` removes the value;
- ``date``/``datetime`` values must be integer Unix seconds (ISO strings are refused).

Company custom attributes also take their value as text. The 2.14 description types
``create_or_update_company_request.custom_attributes`` as ``additionalProperties: {type: string}``, so a
client that keeps to the contract can only send strings, yet company attributes are integers, floats,
booleans and dates (the description's own example sets ``paid_subscriber: true, monthly_spend: 155.5``).
For that contract to work Intercom must read a string as the attribute's type, and the sandbox does, for the
company model only (contacts have no such typing and keep the strict check):

- ``integer``: ``"42"`` (optional minus, digits) -> 42; ``float``: a JSON number's text (``"99.5"``,
  ``"10"``, ``"1e+16"``) -> float; ``boolean``: ``"true"`` / ``"false"`` -> bool; ``date``/``datetime``:
  Unix seconds as digits (``"1796083200"``) -> int; ``string``/list attributes: the text itself;
- ``""`` removes the value, whatever the type: the string contract has no ``null``, and an empty text is
  no value (sandbox choice; real Intercom's handling of ``""`` is unconfirmed);
- any other text for a typed attribute is ``400 type_mismatch`` naming the expected form. JSON numbers
  and booleans are accepted too, as Intercom does.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from intercom_sandbox.errors import ApiError, invalid, type_mismatch

MODELS = ("contact", "company")
MODEL_WORDS = {"contact": "people", "company": "company"}
DATA_TYPES = ("string", "integer", "float", "boolean", "date", "datetime", "options")
# What GET /data_attributes reports for a type outside the 2.14 ``data_attribute.data_type`` enum.
_REPORTED_TYPE = {"options": "string", "datetime": "date"}

NAME_RULE_MESSAGE = (
    "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens"
)

# (name, full_name, label, data_type, api_writable)
_STANDARD: dict[str, tuple[tuple[str, str, str, str, bool], ...]] = {
    "contact": (
        ("id", "id", "ID", "string", False),
        ("external_id", "external_id", "User ID", "string", True),
        ("role", "role", "Role", "string", True),
        ("name", "name", "Name", "string", True),
        ("email", "email", "Email", "string", True),
        ("email_domain", "email_domain", "Email domain", "string", False),
        ("phone", "phone", "Phone", "string", True),
        ("avatar", "avatar", "Avatar", "string", True),
        ("owner_id", "owner_id", "Owner", "integer", True),
        ("created_at", "created_at", "Created at", "date", False),
        ("updated_at", "updated_at", "Updated at", "date", False),
        ("signed_up_at", "signed_up_at", "Signed up", "date", True),
        ("last_seen_at", "last_seen_at", "Last seen", "date", True),
        ("last_contacted_at", "last_contacted_at", "Last contacted", "date", False),
        ("last_replied_at", "last_replied_at", "Last replied", "date", False),
        ("last_email_opened_at", "last_email_opened_at", "Last opened email", "date", False),
        ("last_email_clicked_at", "last_email_clicked_at", "Last clicked on link in email", "date", False),
        ("unsubscribed_from_emails", "unsubscribed_from_emails", "Unsubscribed from emails", "boolean", True),
        ("marked_email_as_spam", "marked_email_as_spam", "Marked email as spam", "boolean", False),
        ("has_hard_bounced", "has_hard_bounced", "Has hard bounced", "boolean", False),
        ("language_override", "language_override", "Language override", "string", True),
        ("browser", "browser", "Browser", "string", False),
        ("browser_language", "browser_language", "Browser language", "string", False),
        ("os", "os", "OS", "string", False),
        ("country", "location.country", "Country", "string", False),
        ("region", "location.region", "Region", "string", False),
        ("city", "location.city", "City", "string", False),
        ("session_count", "session_count", "Web sessions", "integer", False),
    ),
    "company": (
        ("name", "name", "Company name", "string", True),
        ("company_id", "company_id", "Company ID", "string", False),
        ("last_request_at", "last_request_at", "Company last seen", "date", False),
        ("remote_created_at", "remote_created_at", "Company created at", "date", True),
        ("user_count", "user_count", "People", "integer", False),
        ("session_count", "session_count", "Company web sessions", "integer", False),
        ("name", "plan.name", "Plan", "string", False),
        ("monthly_spend", "monthly_spend", "Monthly Spend", "float", True),
        ("size", "size", "Company size", "integer", True),
        ("industry", "industry", "Company industry", "string", True),
        ("website", "website", "Company website", "string", True),
        ("id", "id", "ID", "string", False),
        ("created_at", "created_at", "Created at", "date", False),
        ("updated_at", "updated_at", "Updated at", "date", False),
        ("id", "plan.id", "Plan ID", "string", False),
        ("app_id", "app_id", "App ID", "string", False),
    ),
}
# Standard names (and full names) that a custom attribute of the same model can't take.
_RESERVED_NAMES = {model: {n.lower() for row in rows for n in row[:2]} for model, rows in _STANDARD.items()}


@dataclass
class DataAttribute:
    """One data attribute; ``data_type`` is the type it was created with (``options``, ``datetime``...)."""

    model: str
    name: str
    full_name: str
    label: str
    data_type: str
    api_writable: bool
    custom: bool
    id: int | None = None
    description: str = ""
    options: list[str] = field(default_factory=list)
    messenger_writable: bool = False
    archived: bool = False
    created_at: int | None = None
    admin_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``data_attribute`` schema of the 2.14 description."""
        out: dict[str, Any] = {"type": "data_attribute"}
        if self.id is not None:
            out["id"] = self.id
        out.update(
            name=self.name,
            full_name=self.full_name,
            label=self.label,
            description=self.description,
            data_type=_REPORTED_TYPE.get(self.data_type, self.data_type),
            api_writable=self.api_writable,
            ui_writable=not self.custom,
            messenger_writable=self.messenger_writable,
            custom=self.custom,
            archived=self.archived,
            model=self.model,
        )
        if self.options:
            out["options"] = list(self.options)
        if self.custom:
            out.update(created_at=self.created_at, updated_at=self.created_at, admin_id=self.admin_id)
        return out

    def state_json(self) -> dict[str, Any]:
        """The admin dump: the API shape plus the type as created."""
        return {**self.to_json(), "created_data_type": self.data_type}


def name_is_valid(name: str) -> bool:
    """Letters, digits, currency symbols except ``$``, hyphens, spaces and underscores."""
    if not name.strip():
        return False
    for ch in name:
        if ch.isalnum() or ch in " _-":
            continue
        if unicodedata.category(ch) == "Sc" and ch != "$":
            continue
        return False
    return True


class DataAttributes:
    """The workspace's data attributes. Not locked: the :class:`Workspace` lock guards it."""

    def __init__(self) -> None:
        self._standard = {
            model: [
                DataAttribute(model, name, full, label, dtype, writable, custom=False)
                for name, full, label, dtype, writable in rows
            ]
            for model, rows in _STANDARD.items()
        }
        self._custom: dict[str, dict[str, DataAttribute]] = {model: {} for model in MODELS}
        self._next_id = 1

    def listed(self, model: str | None, include_archived: bool = False) -> list[DataAttribute]:
        models = MODELS if model is None else (model,)
        out: list[DataAttribute] = []
        for m in models:
            out.extend(self._standard[m])
            out.extend(a for a in self._custom[m].values() if include_archived or not a.archived)
        return out

    def custom(self, model: str, name: str) -> DataAttribute | None:
        """The live custom attribute ``name`` of ``model`` (exact, case-sensitive key)."""
        attr = self._custom[model].get(name)
        return None if attr is None or attr.archived else attr

    def custom_count(self) -> int:
        return sum(1 for attrs in self._custom.values() for a in attrs.values() if not a.archived)

    def create(self, body: dict[str, Any], *, now: int, admin_id: str, cap: int) -> DataAttribute:
        """``POST /data_attributes``; raises :class:`ApiError` with Intercom's 400 messages."""
        # Unknown keys are ignored: the spec's own example sends ``archived`` and gets the model error.
        model = body.get("model")
        if model not in MODELS:
            raise invalid("The Data Attribute model field must be either contact or company")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("Name can't be blank")
        data_type = body.get("data_type")
        if data_type not in DATA_TYPES:
            raise invalid("Data Type isn't an option")
        if not name_is_valid(name):
            raise invalid(NAME_RULE_MESSAGE)
        clash = self._clash(name, model)
        if clash is not None:
            raise invalid(
                f"You already have '{name}' in your {MODEL_WORDS[clash]} data. "
                f"To save this as new {MODEL_WORDS[model]} data, use a different name."
            )
        options: list[str] = []
        if data_type == "options":
            raw = body.get("options")
            if not isinstance(raw, list) or not all(
                isinstance(o, dict) and isinstance(o.get("value"), str) for o in raw
            ):
                raise invalid('Options isn\'t an array of {"value": string} objects')
            options = [o["value"] for o in raw]
            if len(set(options)) < 2:
                raise invalid("At least two options are required")
        description = body.get("description", "")
        if not isinstance(description, str):
            raise type_mismatch("description must be a string")
        messenger_writable = body.get("messenger_writable", False)
        if not isinstance(messenger_writable, bool):
            raise type_mismatch("messenger_writable must be a boolean")
        if self.custom_count() >= cap:
            raise invalid(
                f"You have reached the limit of {cap} custom data attributes. "
                "Archive unused attributes to free up space."
            )
        attr = DataAttribute(
            model=model,
            name=name,
            full_name=f"custom_attributes.{name}",
            label=name,
            data_type=data_type,
            api_writable=True,
            custom=True,
            id=self._next_id,
            description=description,
            options=options,
            messenger_writable=messenger_writable,
            created_at=now,
            admin_id=admin_id,
        )
        self._next_id += 1
        self._custom[model][name] = attr
        return attr

    def _clash(self, name: str, model: str) -> str | None:
        """The model already holding ``name``: a custom attribute of either model, or a standard
        attribute of ``model`` itself."""
        folded = name.lower()
        for other in MODELS:
            if any(a.name.lower() == folded for a in self._custom[other].values()):
                return other
        return model if folded in _RESERVED_NAMES[model] else None

    def check_values(self, model: str, values: object) -> dict[str, Any]:
        """Validate a ``custom_attributes`` object against the attributes of ``model``."""
        if values is None:
            return {}
        if not isinstance(values, dict):
            raise type_mismatch("custom_attributes must be an object", "custom_attributes")
        checked: dict[str, Any] = {}
        for key, value in values.items():
            attr = self.custom(model, key)
            if attr is None:
                raise invalid(f"Custom attribute '{key}' does not exist", f"custom_attributes.{key}")
            if model == "company" and isinstance(value, str):
                value = from_text(attr, value)
            check_value(attr, value)
            checked[key] = value
        return checked

    def state_json(self) -> list[dict[str, Any]]:
        return [a.state_json() for m in MODELS for a in self._custom[m].values()]


_INTEGER_TEXT = re.compile(r"^-?\d{1,18}$")
_NUMBER_TEXT = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")  # a JSON number
_BOOLEAN_TEXT = {"true": True, "false": False}


def from_text(attr: DataAttribute, text: str) -> Any:
    """A company custom attribute value given as text (the 2.14 string contract) as the attribute's type;
    ``""`` is ``None`` (remove the value). Raises ``type_mismatch`` for text that is not the type's form."""
    if text == "":
        return None
    dtype, where = attr.data_type, f"custom_attributes.{attr.name}"
    if dtype in ("string", "options"):
        return text
    if dtype == "boolean":
        if text in _BOOLEAN_TEXT:
            return _BOOLEAN_TEXT[text]
        raise type_mismatch(f'Custom attribute \'{attr.name}\' must be a boolean ("true" or "false")', where)
    if dtype == "float":
        if _NUMBER_TEXT.match(text):
            return float(text)
        raise type_mismatch(f"Custom attribute '{attr.name}' must be a number (like \"99.5\")", where)
    if _INTEGER_TEXT.match(text):  # integer, date, datetime
        return int(text)
    what = 'an integer (like "42")' if dtype == "integer" else 'a Unix timestamp in seconds (like "1796083200")'
    raise type_mismatch(f"Custom attribute '{attr.name}' must be {what}", where)


def check_value(attr: DataAttribute, value: object) -> None:
    """Raise unless ``value`` fits ``attr.data_type``; ``None`` (clear the value) always fits."""
    if value is None:
        return
    name, dtype = attr.name, attr.data_type
    where = f"custom_attributes.{name}"
    if dtype in ("string", "options"):
        if not isinstance(value, str):
            raise type_mismatch(f"Custom attribute '{name}' must be a string", where)
        if dtype == "options" and value not in attr.options:
            raise invalid(f"Custom attribute '{name}' must be one of the options: {', '.join(attr.options)}", where)
    elif dtype == "boolean":
        if not isinstance(value, bool):
            raise type_mismatch(f"Custom attribute '{name}' must be a boolean", where)
    elif dtype == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise type_mismatch(f"Custom attribute '{name}' must be a number", where)
    elif dtype in ("integer", "date", "datetime"):
        if isinstance(value, bool) or not isinstance(value, int):
            what = "an integer" if dtype == "integer" else "a Unix timestamp in seconds (integer)"
            raise type_mismatch(f"Custom attribute '{name}' must be {what}", where)
    else:  # pragma: no cover - DATA_TYPES is closed
        raise ApiError(500, "server_error", f"unknown data type {dtype}")
