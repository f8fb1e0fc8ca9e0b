"""The doctor's read-only checks of the workspace: the token and its app (``GET /me``), the region against the
configured one and the API root called, and the custom data attributes used of Intercom's cap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, WARNING, Check
from intercom_importer.intercom.connection import REGION_URLS

TOKEN = "token and workspace"  # noqa: S105 - a check's name
REGION = "region"
ATTRIBUTES = "custom attributes"
ATTRIBUTE_VALUES = "custom attribute values"

ATTRIBUTE_CAP = 250
"""Custom data attributes per workspace, people and companies together (Intercom Help article 179)."""
ATTRIBUTE_WARNING_SHARE = 0.9

ATTRIBUTES_FIX = (
    "archive the custom attributes nobody uses in Intercom (Settings > Data > People / Companies > archive); an "
    "import whose file has a column for a new custom attribute fails once the cap is reached"
)


def token_check(me: Mapping[str, Any]) -> tuple[Check, dict[str, Any]]:
    """``token and workspace`` from an answered ``GET /me``, and the app (``id_code``, ``name``, ``region``)."""
    app = me.get("app") if isinstance(me.get("app"), dict) else {}
    assert isinstance(app, dict)
    facts = {"id_code": app.get("id_code"), "name": app.get("name"), "region": app.get("region")}
    if not facts["id_code"]:
        return Check(TOKEN, WARNING, "Intercom accepted the token but GET /me named no app"), facts
    region = f", region {facts['region']}" if facts["region"] else ""
    return Check(
        TOKEN, OK, f"Intercom accepted the token: app {facts['name']!r} (id {facts['id_code']}{region})"
    ), facts


def region_check(app_region: str | None, base_url: str, expected: str | None, how_to_set: str) -> Check:
    """``region``: the app's region (``GET /me``) against the API root called and the region configured.

    ``expected`` is the region the caller configured (``None``: none, or one the API root overrides);
    ``how_to_set`` says where it is set, with ``{region}`` (``eu``), ``{REGION}`` (``EU``) and ``{url}`` for the
    right values.
    """
    if not app_region:
        return Check(REGION, NOT_CHECKED, "GET /me did not say the app's region")
    region = app_region.strip().upper()
    right_url = REGION_URLS.get(region)
    url_region = next((name for name, url in REGION_URLS.items() if url == base_url.rstrip("/")), None)
    fix = how_to_set.format(region=region.lower(), REGION=region, url=right_url or "the region's API root")
    if url_region is not None and url_region != region:
        return Check(
            REGION,
            FAILED,
            f"the workspace is in {region} but the calls go to {base_url}, the {url_region} API root",
            fix,
        )
    if expected and expected.upper() != region:
        return Check(
            REGION, FAILED, f"the workspace is in {region} but the region configured is {expected.upper()}", fix
        )
    where = f"the {region} API root" if url_region else "an API root of its own (a proxy or a stand-in)"
    return Check(REGION, OK, f"the workspace is in {region}; the calls go to {base_url}, {where}")


def attributes_check(people: Sequence[Mapping[str, Any]], companies: Sequence[Mapping[str, Any]]) -> Check:
    """``custom attributes``: the live custom attributes of both models against the workspace's cap."""
    counts = [sum(1 for a in listed if a.get("custom") and not a.get("archived")) for listed in (people, companies)]
    used = sum(counts)
    detail = f"{used} of the {ATTRIBUTE_CAP} custom attributes used (people {counts[0]}, companies {counts[1]})"
    if used >= ATTRIBUTE_CAP:
        return Check(ATTRIBUTES, FAILED, f"{detail}: no new one can be created", ATTRIBUTES_FIX)
    if used >= ATTRIBUTE_CAP * ATTRIBUTE_WARNING_SHARE:
        left = ATTRIBUTE_CAP - used
        return Check(ATTRIBUTES, WARNING, f"{detail}: only {left} more can be created", ATTRIBUTES_FIX)
    return Check(ATTRIBUTES, OK, detail)


def attribute_values_check() -> Check:
    """``custom attribute values``: not checked, on purpose: it would need a data attribute of its own, and Intercom
    archives data attributes but never deletes them."""
    return Check(
        ATTRIBUTE_VALUES,
        NOT_CHECKED,
        "writing a custom attribute would need a data attribute made for the check, which Intercom can archive but "
        "never delete: the doctor creates nothing permanent (the validator checks values against the attribute "
        "types an import uses)",
    )
