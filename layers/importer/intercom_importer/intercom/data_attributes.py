"""The data attribute endpoints of the client: list the attributes of contacts or companies, create one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from intercom_importer.intercom.answers import JSONDict
from intercom_importer.intercom.transport import Transport


class DataAttributesAPI:
    """Data attribute methods of :class:`~intercom_importer.intercom.client.IntercomClient` (mixed in: it holds
    the transport)."""

    _transport: Transport

    def list_data_attributes(
        self, model: Literal["contact", "company"], *, include_archived: bool = False
    ) -> list[JSONDict]:
        """``GET /data_attributes?model=...``: standard and custom attributes of contacts or companies."""
        if model not in ("contact", "company"):
            raise ValueError("model must be 'contact' or 'company'")
        params: JSONDict = {"model": model}
        if include_archived:
            params["include_archived"] = "true"
        page = self._transport.call("GET", "/data_attributes", params=params)
        return list(page.get("data") or [])

    def create_data_attribute(
        self,
        name: str,
        model: Literal["contact", "company"],
        data_type: str,
        *,
        options: Sequence[str] | None = None,
        description: str | None = None,
        retry_on_ambiguous: bool = False,
    ) -> JSONDict:
        """``POST /data_attributes``: create a custom attribute; returns it.

        ``data_type`` is ``string|integer|float|boolean|date|datetime``, or ``options`` for a list
        attribute with ``options`` (at least two values). A repeated create is refused with
        ``IntercomValidationError`` ("You already have ..."), so by default an ambiguous failure is
        not retried: re-list the attributes instead.
        """
        body: JSONDict = {"name": name, "model": model, "data_type": data_type}
        if options is not None:
            body["options"] = [{"value": str(value)} for value in options]
        if description is not None:
            body["description"] = description
        return self._transport.call("POST", "/data_attributes", body=body, retry_ambiguous=retry_on_ambiguous)
