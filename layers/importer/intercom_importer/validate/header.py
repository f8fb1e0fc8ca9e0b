"""What a header means for Intercom, decided from the header alone: the import type, how each column maps, which
custom attributes the import needs (those to create), and the ``create_attributes: explicit`` check.

The validator records it on every new upload (``opening``); ``intercom-import run`` works it out from the local
file's header before uploading, to say which custom attributes the import would create (Intercom can archive a data
attribute but never delete one). Both call :func:`plan_header`, so what is announced is what is done."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from intercom_importer.attributes import AttributePlan, model_of, plan_attributes
from intercom_importer.csv_reader import CsvStream
from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import COMPANIES, PEOPLE, Column, map_header, normalise
from intercom_importer.options import ImportOptions
from intercom_importer.schema import restore_cell

_PEOPLE_IDS = {"email", "e_mail", "email_address", "external_id", "user_id", "userid", "id", "intercom_id"}


@dataclass(frozen=True)
class HeaderPlan:
    import_type: str
    attributes: AttributePlan  # the columns with their attribute types; ``create``: the new custom attributes
    refused: tuple[Column, ...] = ()  # create_attributes: explicit: new attributes the mapping does not name


def header_of(stream: CsvStream) -> list[str]:
    """The header cells of an opened file, each as it was before our error file neutralised it (``'=x`` -> ``=x``).
    Opening the stream read its first block only (the header and the first rows, whatever the file's size)."""
    return [restore_cell(h) for h in stream.header]


def guess_import_type(header: Sequence[str]) -> str:
    names = {normalise(h) for h in header}
    if names & _PEOPLE_IDS:
        return PEOPLE
    return COMPANIES if "company_id" in names else PEOPLE


def plan_header(header: Sequence[str], options: ImportOptions, intercom: Callable[[], Any]) -> HeaderPlan:
    """The plan of ``header`` under ``options``; raises ``FileRejectedError`` for a header the validator refuses
    (mapping problems, attribute names Intercom refuses, the attribute cap). ``intercom`` builds a client whose
    ``list_data_attributes(model)`` is called only when the header has custom columns. A header with columns
    ``create_attributes: explicit`` refuses is planned all the same: :func:`check_explicit` refuses it."""
    import_type = options.import_type or guess_import_type(header)
    attributes = _plan_attributes(intercom, map_header(list(header), import_type, options.mapping or {}), import_type)
    refused: tuple[Column, ...] = ()
    if options.create_attributes == "explicit":
        named = {normalise(str(name)) for name in ((options.mapping or {}).get("columns") or {})}
        refused = tuple(c for c in attributes.create if normalise(c.header) not in named)
    return HeaderPlan(import_type, attributes, refused)


def _plan_attributes(intercom: Callable[[], Any], columns: list[Column], import_type: str) -> AttributePlan:
    """The columns with their attribute types, and the custom attributes to create (the workspace's data
    attributes are read only when the file has custom columns)."""
    if not any(c.custom for c in columns):
        return AttributePlan(columns=list(columns))
    client = intercom()
    model = model_of(import_type)
    other = "company" if model == "contact" else "contact"
    return plan_attributes(columns, import_type, client.list_data_attributes(model), client.list_data_attributes(other))


def check_explicit(plan: HeaderPlan) -> None:
    """Under ``create_attributes: explicit``, only a column the mapping names may create a custom attribute: a file
    with any other new column is refused before anything is written (Intercom can archive a data attribute, never
    delete it)."""
    unasked = [c.header for c in plan.refused]
    if unasked:
        listed = ", ".join(repr(h) for h in unasked)
        raise FileRejectedError(
            f"The file's column{'s' if len(unasked) > 1 else ''} {listed} would create new custom attribute"
            f"{'s' if len(unasked) > 1 else ''} in Intercom, and this import creates only those its mapping names "
            "(create_attributes: explicit). Nothing was imported. Fix: name each column in the mapping (as a custom "
            'attribute, or {"ignore": true}), map it to an existing attribute, or delete the column; then upload the '
            "file again."
        )
