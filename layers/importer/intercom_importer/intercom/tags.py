"""The tag endpoints of the client: find or create a tag, tag contacts or companies in batches, remove a tag from a
contact, list tags."""

from __future__ import annotations

from collections.abc import Sequence

from intercom_importer.intercom.answers import JSONDict
from intercom_importer.intercom.transport import Transport
from intercom_importer.sequences import batched, unique

TAG_BATCH_SIZE = 50
"""Contacts per ``POST /tags`` call (Intercom's recommendation against timeouts)."""


class TagsAPI:
    """Tag methods of :class:`~intercom_importer.intercom.client.IntercomClient` (mixed in: it holds the
    transport)."""

    _transport: Transport

    def create_tag(self, name: str) -> JSONDict:
        """``POST /tags {"name": name}``: find or create the tag (names are case-insensitive)."""
        return self._transport.call("POST", "/tags", body={"name": name})

    def tag_contacts(self, tag_name: str, contact_ids: Sequence[str], *, batch_size: int = TAG_BATCH_SIZE) -> JSONDict:
        """Tag contacts (Intercom ids) with ``tag_name``, creating the tag if needed; returns the tag.

        Sends ``POST /tags {"name", "users": [{"id"}...]}`` per batch of at most ``batch_size``
        distinct ids. Tagging is idempotent, so after a failure the whole call can be repeated.
        """
        return self._tag_many(tag_name, "users", contact_ids, batch_size)

    def tag_companies(self, tag_name: str, company_ids: Sequence[str], *, batch_size: int = TAG_BATCH_SIZE) -> JSONDict:
        """Tag companies (Intercom ids, not your ``company_id``) with ``tag_name``, as :meth:`tag_contacts`
        does contacts: ``POST /tags {"name", "companies": [{"id"}...]}`` per batch (``tag_company_request``)."""
        return self._tag_many(tag_name, "companies", company_ids, batch_size)

    def untag_contact(self, contact_id: str, tag_id: str) -> JSONDict:
        """``DELETE /contacts/{contact_id}/tags/{tag_id}``: remove the tag from the contact; returns the tag.

        Raises ``IntercomNotFoundError`` when the contact or the tag is unknown, or the contact does not have it.
        """
        return self._transport.call(
            "DELETE", "/contacts/{contact_id}/tags/{tag_id}", path={"contact_id": contact_id, "tag_id": tag_id}
        )

    def list_tags(self) -> list[JSONDict]:
        """``GET /tags``: every tag of the workspace."""
        return list(self._transport.call("GET", "/tags").get("data") or [])

    def _tag_many(self, tag_name: str, targets: str, ids: Sequence[str], batch_size: int) -> JSONDict:
        """One ``POST /tags`` per batch of distinct ``ids`` under ``targets`` (``users`` or ``companies``:
        Intercom refuses both in one request)."""
        if not 1 <= batch_size <= TAG_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {TAG_BATCH_SIZE}")
        distinct = unique(str(i) for i in ids)
        if not distinct:
            return self.create_tag(tag_name)
        tag: JSONDict = {}
        for batch in batched(distinct, batch_size):
            tag = self._transport.call("POST", "/tags", body={"name": tag_name, targets: [{"id": i} for i in batch]})
        return tag
