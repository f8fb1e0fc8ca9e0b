"""The identity ledger: which Intercom contact each identifier this importer wrote belongs to, so that a re-run
or a concurrent import inside Intercom's search lag updates the contact instead of creating it again.

Intercom's search misses a new contact "for a few minutes", and never refuses a second lead with the same
email (only users are uniqueness-checked), so search alone cannot tell a fresh contact from a new row. The
ledger is the importer's own memory: one DynamoDB item per identifier, scoped to the Intercom workspace (the
``app.id_code`` of ``GET /me``), written when a row's contact is created or found and read (one
``BatchGetItem`` per chunk, no Intercom call) before a chunk decides create or update.

Items (``pk`` only): ``pk = "<workspace>#<identifier key>"``, with ``contact_id``, ``role``, the contact's
``email`` and ``external_id`` as the row wrote them, ``created_at`` (Intercom's, when this import created it),
``job_id`` and ``expires_at`` (DynamoDB TTL: the ledger only has to outlive the search lag; 7 days by default).
A lead's create is claimed first (``claim``: the entry without a contact, with when the create was sent), so a
run that dies between the create and its answer leaves a trace: the next run finds the claim and waits for the
search lag before it creates again (Intercom never refuses a second lead). An update this importer made is
noted on the contact's keys too (``note_written``: the contact's ``updated_at`` after it), because Intercom
documents when a new contact reaches search but not when an update does: until the search shows that
``updated_at`` (within that same second, which Intercom's seconds cannot split: the values the update sent), the
values it shows may be older than the importer's own, and the contact is read instead. Identifier keys (``identity_keys``): ``external_id:<value>``, ``email:<lower-cased>``, and for a row with
neither (a lead known only by phone and name) ``phone:<normalised phone>|<case-folded name>``. Nothing else of
the row is stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_importer.errors import LedgerUnavailableError
from intercom_importer.sequences import batched, unique

MAX_GET = 100  # keys per BatchGetItem
MAX_WRITE = 25  # items per BatchWriteItem
UNPROCESSED_ATTEMPTS = 6  # BatchGet/BatchWrite leftovers (throttling) retried with backoff this often


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """The digits of a phone number, with ``+`` for an international one (``00`` counts as ``+``): "+44 (20)
    7946-0958" and "0044 20 7946 0958" are one number. No country is guessed for a national number."""
    text = phone.strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits


def normalise_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def identity_keys(record: Mapping[str, Any]) -> list[str]:
    """The ledger keys of a people row: its external_id and email; a row with neither, its phone with its name
    (a phone alone may be shared, a name alone is too common). A row with none of these has no key."""
    keys = []
    if record.get("external_id"):
        keys.append(f"external_id:{record['external_id']}")
    if record.get("email"):
        keys.append(f"email:{normalise_email(str(record['email']))}")
    if not keys and record.get("phone") and record.get("name"):
        phone = normalise_phone(str(record["phone"]))
        if phone:
            keys.append(f"phone:{phone}|{normalise_name(str(record['name']))}")
    return keys


def recognisable(record: Mapping[str, Any]) -> bool:
    """Whether a later import can find this people row's contact again: by its Intercom id, or by one of its
    identifier keys (external_id, email, phone with name). A row with none (a name and nothing else that
    identifies it) is created again by every import of it."""
    return bool(record.get("id") or identity_keys(record))


@dataclass(frozen=True)
class LedgerEntry:
    """One identifier's contact, as the row that wrote it knew it."""

    key: str
    contact_id: str
    role: str
    email: str | None = None
    external_id: str | None = None
    created_at: int | None = None  # Intercom's, when this import created the contact
    job_id: str = ""
    # A claim: a lead's create was sent at ``claimed_at`` (epoch seconds) for row ``line`` of the job, and its
    # outcome is not recorded yet (``contact_id`` is ""). Written before the create, replaced by its contact after.
    claimed_at: float | None = None
    line: int = 0
    # The contact's ``updated_at`` after this importer last updated it (``note_written``): a search showing an
    # older ``updated_at`` shows values from before that update, so the contact is read (GET) before a diff.
    written_at: int | None = None
    written_values: str | None = None  # what that update sent (``known.written_values``): the same second's tiebreak

    @property
    def pending(self) -> bool:
        return not self.contact_id

    def as_contact(self) -> dict[str, Any]:
        """The entry in the shape of an Intercom contact (the fields the upsert reads), marked as the ledger's."""
        contact: dict[str, Any] = {"id": self.contact_id, "role": self.role, "from_ledger": True}
        contact.update({"email": self.email, "external_id": self.external_id})
        if self.created_at is not None:
            contact["created_at"] = self.created_at
        return contact


class IdentityLedger:
    """The ledger of one Intercom workspace (thread-safe: boto3 table resources are)."""

    def __init__(
        self,
        table: Any,
        workspace: str,
        *,
        ttl_days: int = 7,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._workspace = workspace
        self._ttl = ttl_days * 86_400
        self._clock = clock
        self._sleep = sleep

    def find(self, keys: Iterable[str]) -> dict[str, LedgerEntry]:
        """The entries of ``keys`` the ledger has (one ``BatchGetItem`` per 100 keys)."""
        found: dict[str, LedgerEntry] = {}
        for group in batched(unique(keys), MAX_GET):
            request = {self._table.name: {"Keys": [{"pk": self._pk(k)} for k in group], "ConsistentRead": True}}
            for answer in self._batch("read", self._table.meta.client.batch_get_item, request, "UnprocessedKeys"):
                for item in answer.get("Responses", {}).get(self._table.name, []):
                    entry = self._entry(item)
                    found[entry.key] = entry
        return found

    def record(self, entries: Iterable[LedgerEntry]) -> None:
        """Write ``entries`` (a key written again takes the newer contact)."""
        expires_at = int(self._clock()) + self._ttl
        items = {e.key: self._item(e, expires_at) for e in entries}
        for group in batched(list(items.values()), MAX_WRITE):
            request = {self._table.name: [{"PutRequest": {"Item": item}} for item in group]}
            list(self._batch("write", self._table.meta.client.batch_write_item, request, "UnprocessedItems"))

    def _batch(
        self, what: str, call: Callable[..., dict[str, Any]], request: dict[str, Any], leftover: str
    ) -> Iterator[dict[str, Any]]:
        """Each answer of a batch call, repeated with backoff for what DynamoDB left unprocessed (throttling)."""
        for attempt in range(UNPROCESSED_ATTEMPTS):
            answer = self._call(what, call, RequestItems=request)
            yield answer
            request = answer.get(leftover) or {}
            if not request:
                return
            self._sleep(min(1.0, 0.05 * 2**attempt))
        raise LedgerUnavailableError(f"The identity ledger kept throttling ({what}); the chunk is retried.")

    def claim(self, keys: Iterable[str], *, job_id: str, line: int, sent_at: float) -> None:
        """Note that a lead's create for ``keys`` is being sent (``remember`` replaces the claim once it has an
        answer): a later run that finds the claim but no contact knows that create may exist, unsearchable."""
        self.record(LedgerEntry(key, "", "lead", job_id=job_id, claimed_at=sent_at, line=line) for key in keys)

    def note_written(self, entry: LedgerEntry) -> None:
        """Remember that this importer updated ``entry.contact_id`` (``entry.written_at``: the contact's
        ``updated_at`` after the update) under ``entry.key``, keeping what the key's item already holds
        (``created_at``). A key that names another contact, or a lead's pending claim, is left alone: it is not
        this contact's to mark."""
        expires_at = int(self._clock()) + self._ttl
        values: dict[str, Any] = {
            ":id": entry.contact_id,
            ":role": entry.role,
            ":job": entry.job_id,
            ":written": entry.written_at,
            ":expires": expires_at,
        }
        sets = ["contact_id = :id", "#role = :role", "job_id = :job", "written_at = :written", "expires_at = :expires"]
        for name in ("email", "external_id", "written_values"):
            if getattr(entry, name):
                values[f":{name}"] = str(getattr(entry, name))
                sets.append(f"{name} = :{name}")
        try:
            self._table.update_item(
                Key={"pk": self._pk(entry.key)},
                # an earlier note's values belong to its own second, never to this one's
                UpdateExpression="SET " + ", ".join(sets) + ("" if entry.written_values else " REMOVE written_values"),
                ConditionExpression="attribute_not_exists(pk) OR contact_id = :id",
                ExpressionAttributeNames={"#role": "role"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise LedgerUnavailableError(f"The identity ledger could not be updated: {exc}") from exc
        except BotoCoreError as exc:
            raise LedgerUnavailableError(f"The identity ledger could not be updated: {exc}") from exc

    def forget(self, keys: Iterable[str], contact_id: str) -> None:
        """Remove ``keys`` that still name ``contact_id`` (Intercom no longer knows it: deleted or merged)."""
        for key in unique(keys):
            try:
                self._table.delete_item(
                    Key={"pk": self._pk(key)},
                    ConditionExpression="contact_id = :id",
                    ExpressionAttributeValues={":id": contact_id},
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise LedgerUnavailableError(f"The identity ledger could not be updated: {exc}") from exc

    # ---------------------------------------------------------------- storage form
    def _pk(self, key: str) -> str:
        return f"{self._workspace}#{key}"

    def _item(self, entry: LedgerEntry, expires_at: int) -> dict[str, Any]:
        """The stored item of ``entry`` (the table resource's client serialises Python values)."""
        item: dict[str, Any] = {
            "pk": self._pk(entry.key),
            "contact_id": entry.contact_id,
            "role": entry.role,
            "job_id": entry.job_id,
            "expires_at": expires_at,
        }
        item.update({name: str(getattr(entry, name)) for name in ("email", "external_id") if getattr(entry, name)})
        if entry.created_at is not None:
            item["created_at"] = entry.created_at
        if entry.claimed_at is not None:
            item.update(claimed_at=Decimal(repr(entry.claimed_at)), line=entry.line)
        if entry.written_at is not None:
            item["written_at"] = entry.written_at
        if entry.written_values:
            item["written_values"] = entry.written_values
        return item

    def _entry(self, item: Mapping[str, Any]) -> LedgerEntry:
        created = item.get("created_at")
        return LedgerEntry(
            key=str(item["pk"]).split("#", 1)[1],
            contact_id=str(item["contact_id"]),
            role=str(item["role"]),
            email=item.get("email"),
            external_id=item.get("external_id"),
            created_at=int(created) if created is not None else None,
            job_id=str(item.get("job_id") or ""),
            claimed_at=float(item["claimed_at"]) if "claimed_at" in item else None,
            line=int(item.get("line") or 0),
            written_at=int(item["written_at"]) if item.get("written_at") is not None else None,
            written_values=item.get("written_values"),
        )

    def _call(self, what: str, call: Callable[..., dict[str, Any]], **request: Any) -> dict[str, Any]:
        try:
            return call(**request)
        except (ClientError, BotoCoreError) as exc:
            raise LedgerUnavailableError(f"The identity ledger could not {what}: {exc}") from exc
