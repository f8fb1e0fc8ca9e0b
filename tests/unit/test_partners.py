"""partners: the settings schema, recipients, the prefix rule, schedule expectations, and how a
partner's settings combine with an upload's own (options.ImportOptions.from_sources)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from intercom_importer.errors import FileRejectedError, PartnerConfigError
from intercom_importer.options import ImportOptions
from intercom_importer.partners import (
    DEFAULT_OVERRIDABLE,
    PARTNER_SCHEMA,
    check_name,
    expectation,
    parse_partner,
    partner_of_key,
)
from intercom_importer.settings import Settings

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        jobs_table="jobs",
        import_bucket="bucket",
        chunk_queue_url="https://queue",
        state_machine_arn="arn:aws:states:eu-west-1:1:stateMachine:x",
        intercom_token_secret="arn:secret",
        intercom_region="US",
        intercom_base_url=None,
        intercom_rate_limit_per_minute=10_000,
        chunk_rows=100,
        worker_threads=8,
        default_existing="update",
        default_role="user",
        default_invalid_rows="reject_file",
        notify_recipients=("ops@example.com",),
        sender_email="importer@example.com",
        job_timeout_seconds=3600,
        job_retention_days=90,
        report_link_expiry_seconds=3600,
    )


def _partner(**document: Any):
    return parse_partner("acme", document)


# ------------------------------------------------------------------------------------------ schema
def test_published_partner_schema_matches_the_one_the_validator_uses():
    assert json.loads((DOCS / "partner.schema.json").read_text()) == PARTNER_SCHEMA


def test_example_partner_settings_in_docs_are_valid():
    partner = parse_partner("acme", (DOCS / "partner.example.json").read_text())

    assert partner.settings["import_type"] == "people"
    assert partner.settings["mapping"]["columns"]["Customer No"] == "external_id"
    assert partner.overridable == ("tags", "dry_run")
    assert partner.overdue_after_seconds == 27 * 3600


def test_every_problem_in_partner_settings_is_reported_with_its_path_and_fix():
    with pytest.raises(PartnerConfigError) as caught:
        parse_partner(
            "acme",
            '{"existing": "merge", "recipients": {"partner": ["not-an-address"]}, "expect": {}, "colour": 1}',
        )

    message = caught.value.message
    assert 'existing: "merge" is not allowed: use one of update, skip' in message
    assert 'recipients/partner/0: "not-an-address" is not an email address like ops@example.com' in message
    assert "expect: 'every_hours' is a required property: add it" in message
    assert "unknown key colour" in message


def test_partner_settings_that_are_not_json_name_the_problem():
    with pytest.raises(PartnerConfigError, match="not valid JSON"):
        parse_partner("acme", "{existing: update}")


def test_overridable_lists_only_settings_an_upload_has():
    with pytest.raises(PartnerConfigError, match="overridable/0"):
        _partner(overridable=["recipients"])


@pytest.mark.parametrize("name", ["", "Acme", "-acme", "acme/eu", "a" * 64, "ac me"])
def test_partner_names_that_cannot_be_a_prefix_are_refused(name: str):
    with pytest.raises(PartnerConfigError, match="not a valid partner name"):
        check_name(name)


# ------------------------------------------------------------------------------------------ prefix
@pytest.mark.parametrize(
    ("key", "partner"),
    [
        ("incoming/acme/people.csv", "acme"),
        ("incoming/acme/2026/11/people.csv", "acme"),
        ("incoming/people.csv", None),
        ("incoming/Not A Partner/people.csv", None),
        ("elsewhere/acme/people.csv", None),
    ],
)
def test_the_partner_is_the_first_folder_under_incoming(key: str, partner: str | None):
    assert partner_of_key(key) == partner


# ------------------------------------------------------------------------------------------ recipients
def test_recipients_are_the_partner_contacts_and_its_team_each_once():
    partner = _partner(recipients={"partner": ["a@acme.example", "team@example.com"], "team": ["team@example.com"]})

    assert partner.recipients(["ops@example.com"]) == ["a@acme.example", "team@example.com"]


def test_a_partner_without_a_team_keeps_the_stack_recipients_informed():
    partner = _partner(recipients={"partner": ["a@acme.example"]})

    assert partner.recipients(["ops@example.com"]) == ["a@acme.example", "ops@example.com"]


def test_more_recipients_than_one_email_can_reach_are_refused_when_saved():
    partner = [f"p{i}@acme.example" for i in range(30)]
    team = [f"t{i}@example.com" for i in range(21)]

    with pytest.raises(PartnerConfigError, match="51 different addresses in partner and team"):
        _partner(recipients={"partner": partner, "team": team})


# ------------------------------------------------------------------------------------------ schedule
def test_a_partner_is_overdue_once_every_plus_grace_has_passed_since_its_last_upload():
    partner = _partner(expect={"every_hours": 24, "grace_hours": 2})
    last = 1_000_000.0

    on_time = expectation(partner, last, registered_at=0, now=last + 26 * 3600 - 1)
    late = expectation(partner, last, registered_at=0, now=last + 26 * 3600 + 1)

    assert on_time is not None and not on_time.overdue
    assert late is not None and late.overdue and late.due_by == last + 26 * 3600


def test_a_new_partner_is_measured_from_when_its_settings_were_saved():
    partner = _partner(expect={"every_hours": 1})

    found = expectation(partner, None, registered_at=5000, now=5000 + 1800)

    assert found is not None and not found.overdue and found.due_by == 5000 + 3600


def test_paused_partners_and_partners_without_expectation_are_never_overdue():
    assert expectation(_partner(), None, registered_at=0, now=10**9) is None
    assert expectation(_partner(expect={"every_hours": 1}, enabled=False), None, registered_at=0, now=10**9) is None


# ------------------------------------------------------------------------------------------ options
def test_partner_settings_replace_the_stack_defaults(settings: Settings):
    partner = _partner(existing="skip", role="lead", invalid_rows="skip_rows", tags=["acme"], mapping={"ignore": ["x"]})

    options = ImportOptions.from_sources({}, None, settings, partner)

    assert (options.existing, options.role, options.invalid_rows) == ("skip", "lead", "skip_rows")
    assert options.tags == ("acme",)
    assert options.mapping == {"ignore": ["x"]}


def test_an_upload_may_change_the_overridable_settings(settings: Settings):
    partner = _partner(tags=["acme"], overridable=["tags", "dry_run"])

    options = ImportOptions.from_sources({"dry-run": "true"}, {"tags": ["spring"]}, settings, partner)

    assert options.tags == ("spring",)
    assert options.dry_run is True


def test_an_upload_changing_a_locked_setting_is_rejected_with_the_field_named(settings: Settings):
    partner = _partner(existing="skip")

    with pytest.raises(FileRejectedError) as caught:
        ImportOptions.from_sources({"existing": "update"}, {"mapping": {"ignore": ["a"]}}, settings, partner)

    message = caught.value.message
    assert "sets existing, mapping" in message
    assert f"overridable: {', '.join(DEFAULT_OVERRIDABLE)}" in message


def test_a_paused_partner_rejects_uploads_and_says_how_to_resume(settings: Settings):
    with pytest.raises(FileRejectedError, match=r"paused .*partner add acme --config FILE --replace"):
        ImportOptions.from_sources({}, None, settings, _partner(enabled=False))


def test_uploads_outside_partners_keep_metadata_and_manifest_precedence(settings: Settings):
    options = ImportOptions.from_sources(
        {"existing": "skip", "tags": "a,b"}, {"existing": "update", "auto_tag": True}, settings
    )

    assert options.existing == "update"  # the manifest wins over metadata
    assert options.tags == ("a", "b")
    assert options.auto_tag is True
    assert dataclasses.replace(options, tags=()).role == settings.default_role
