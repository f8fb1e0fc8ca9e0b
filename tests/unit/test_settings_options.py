"""settings.Settings.from_env and options.ImportOptions.from_metadata."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from intercom_importer import settings as settings_module
from intercom_importer.errors import FileRejectedError, SettingsError
from intercom_importer.options import ImportOptions
from intercom_importer.settings import ALL_VARIABLES, Settings

pytestmark = pytest.mark.unit

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

COMPLETE_ENV = {
    "JOBS_TABLE": "jobs",
    "IMPORT_BUCKET": "icimport-test-123456789012-eu-west-1",
    "CHUNK_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/chunks",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:intercom-import-test",
    "INTERCOM_TOKEN_SECRET": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:intercom-abc",
    "INTERCOM_REGION": "EU",
    "INTERCOM_BASE_URL": "http://127.0.0.1:4010/",
    "INTERCOM_RATE_LIMIT_PER_MINUTE": "1000",
    "CHUNK_ROWS": "100",
    "WORKER_THREADS": "8",
    "DEFAULT_EXISTING": "update",
    "DEFAULT_ROLE": "user",
    "DEFAULT_INVALID_ROWS": "reject_file",
    "DEFAULT_TAGS": "",
    "DEFAULT_AUTO_TAG": "false",
    "DEFAULT_IDENTITY_TRAP": "attach",
    "NOTIFY_RECIPIENTS": "ops@example.com, sales@example.com",
    "SENDER_EMAIL": "importer@example.com",
    "JOB_TIMEOUT_SECONDS": "86400",
    "JOB_RETENTION_DAYS": "90",
    "IDENTITY_LEDGER_TABLE": "intercom-importer-ledger",
    "IDENTITY_LEDGER_TTL_DAYS": "7",
    "INTERCOM_SEARCH_LAG_SECONDS": "180",
    "REPORT_LINK_EXPIRY_SECONDS": "604800",
    "VALIDATE_TIME_BUDGET_SECONDS": "840",
}


def env_with(**changes: str | None) -> dict[str, str]:
    env = dict(COMPLETE_ENV)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def settings_error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return caught.value.message


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt, !Join ...) as plain data."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


CloudFormationLoader.add_multi_constructor("!", _cfn_tag)


# --- Settings ------------------------------------------------------------------------------------


def test_complete_environment_loads_typed_settings():
    settings = Settings.from_env(COMPLETE_ENV)

    assert settings.jobs_table == "jobs"
    assert settings.intercom_region == "EU"
    assert settings.intercom_base_url == "http://127.0.0.1:4010"
    assert settings.intercom_rate_limit_per_minute == 1000
    assert settings.chunk_rows == 100
    assert settings.worker_threads == 8
    assert settings.notify_recipients == ("ops@example.com", "sales@example.com")
    assert settings.report_link_expiry_seconds == 604800
    assert settings.validate_time_budget_seconds == 840.0


def test_validate_time_budget_takes_decimal_seconds_within_lambdas_limit():
    assert Settings.from_env(env_with(VALIDATE_TIME_BUDGET_SECONDS="0.5")).validate_time_budget_seconds == 0.5
    assert "VALIDATE_TIME_BUDGET_SECONDS=901 is outside 0.1..900" in settings_error(
        env_with(VALIDATE_TIME_BUDGET_SECONDS="901")
    )
    assert "VALIDATE_TIME_BUDGET_SECONDS='soon' is not a number" in settings_error(
        env_with(VALIDATE_TIME_BUDGET_SECONDS="soon")
    )


def test_empty_base_url_means_the_region_default():
    assert Settings.from_env(env_with(INTERCOM_BASE_URL="")).intercom_base_url is None


def test_every_variable_is_a_settings_field():
    fields = {f.name for f in dataclasses.fields(Settings)}

    assert {name.lower() for name in ALL_VARIABLES} == fields


def test_every_missing_or_invalid_variable_is_named_in_one_error():
    message = settings_error(
        env_with(JOBS_TABLE=None, SENDER_EMAIL="  ", CHUNK_ROWS="lots", WORKER_THREADS="0", DEFAULT_ROLE="admin")
    )

    assert "JOBS_TABLE is not set" in message
    assert "SENDER_EMAIL is not set" in message
    assert "CHUNK_ROWS='lots' is not an integer" in message
    assert "WORKER_THREADS=0 is outside 1..64" in message
    assert "DEFAULT_ROLE='admin' must be one of user, lead" in message


def test_unknown_intercom_region_is_rejected():
    assert "INTERCOM_REGION='APAC' must be one of US, EU, AU" in settings_error(env_with(INTERCOM_REGION="APAC"))


def test_recipient_list_without_an_address_is_rejected():
    assert "NOTIFY_RECIPIENTS lists no address" in settings_error(env_with(NOTIFY_RECIPIENTS=" , ,"))


def test_empty_environment_names_every_required_variable():
    message = settings_error({})

    missing = [name for name in ALL_VARIABLES if f"{name} is not set" not in message]
    # the optional ones: a region's API root is used without a URL; without a policy, attributes are created as before
    assert missing == ["INTERCOM_BASE_URL", "DEFAULT_CREATE_ATTRIBUTES", "STACK_KEEPS_HISTORY"]


def test_create_attributes_policy_comes_from_the_stack_and_the_upload():
    env = dict(COMPLETE_ENV)
    assert Settings.from_env(env).default_create_attributes == "auto"
    stack = Settings.from_env({**env, "DEFAULT_CREATE_ATTRIBUTES": "explicit"})
    assert stack.default_create_attributes == "explicit"
    assert ImportOptions.from_metadata({}, stack).create_attributes == "explicit"
    assert ImportOptions.from_metadata({"create-attributes": "auto"}, stack).create_attributes == "auto"
    assert ImportOptions.from_sources({}, {"create_attributes": "auto"}, stack, None).create_attributes == "auto"
    assert "DEFAULT_CREATE_ATTRIBUTES='sometimes'" in settings_error({**env, "DEFAULT_CREATE_ATTRIBUTES": "sometimes"})
    with pytest.raises(FileRejectedError, match="create-attributes"):
        ImportOptions.from_metadata({"create-attributes": "always"}, stack)


def test_a_stack_keeps_its_history_unless_it_says_it_ends_with_its_import():
    assert Settings.from_env(dict(COMPLETE_ENV)).stack_keeps_history is True
    assert Settings.from_env(env_with(STACK_KEEPS_HISTORY="true")).stack_keeps_history is True
    assert Settings.from_env(env_with(STACK_KEEPS_HISTORY="false")).stack_keeps_history is False


def test_template_globals_define_every_settings_variable():
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CloudFormationLoader)

    variables = template["Globals"]["Function"]["Environment"]["Variables"]

    assert [name for name in ALL_VARIABLES if name not in variables] == []


def test_settings_are_read_lazily_and_cached(monkeypatch: pytest.MonkeyPatch):
    settings_module.get_settings.cache_clear()
    for name, value in COMPLETE_ENV.items():
        monkeypatch.setenv(name, value)
    try:
        first = settings_module.get_settings()
        monkeypatch.setenv("JOBS_TABLE", "other")

        assert settings_module.get_settings() is first
        assert first.jobs_table == "jobs"
    finally:
        settings_module.get_settings.cache_clear()


# --- ImportOptions -------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(env_with(DEFAULT_EXISTING="skip", DEFAULT_ROLE="lead", DEFAULT_INVALID_ROWS="skip_rows"))


def test_options_default_to_the_stack_settings(settings: Settings):
    options = ImportOptions.from_metadata({}, settings)

    assert options == ImportOptions(import_type=None, existing="skip", role="lead", invalid_rows="skip_rows", tags=())


def test_metadata_overrides_the_defaults(settings: Settings):
    options = ImportOptions.from_metadata(
        {"import-type": "Companies", "existing": "update", "role": "USER", "invalid_rows": "reject_file"}, settings
    )

    assert options == ImportOptions(
        import_type="companies", existing="update", role="user", invalid_rows="reject_file", tags=()
    )


def test_tags_auto_tag_and_identity_trap_default_to_the_stack_and_an_upload_overrides_them():
    stack = Settings.from_env(
        env_with(DEFAULT_TAGS=" csv-import, crm ", DEFAULT_AUTO_TAG="true", DEFAULT_IDENTITY_TRAP="report")
    )

    defaulted = ImportOptions.from_metadata({}, stack)
    asked = ImportOptions.from_metadata({"tags": "spring", "auto-tag": "false", "identity-trap": "attach"}, stack)

    assert (defaulted.tags, defaulted.auto_tag, defaulted.identity_trap) == (("csv-import", "crm"), True, "report")
    assert (asked.tags, asked.auto_tag, asked.identity_trap) == (("spring",), False, "attach")


def test_bad_tag_and_policy_defaults_fail_loudly():
    message = settings_error(env_with(DEFAULT_TAGS=",".join(f"t{i}" for i in range(21)), DEFAULT_AUTO_TAG="maybe"))

    assert "DEFAULT_TAGS lists 21 tags; at most 20" in message
    assert "DEFAULT_AUTO_TAG='maybe' must be one of true, false" in message
    assert "DEFAULT_IDENTITY_TRAP is not set" in settings_error(env_with(DEFAULT_IDENTITY_TRAP=None))


def test_tags_metadata_is_a_trimmed_comma_list(settings: Settings):
    options = ImportOptions.from_metadata({"tags": " vip, webinar-2026 ,, "}, settings)

    assert options.tags == ("vip", "webinar-2026")


def test_options_round_trip_through_dict(settings: Settings):
    options = ImportOptions.from_metadata({"import-type": "people", "tags": "a,b"}, settings)

    assert ImportOptions.from_dict(options.to_dict()) == options


@pytest.mark.parametrize(
    ("key", "value"),
    [("import-type", "deals"), ("existing", "overwrite"), ("role", "admin"), ("invalid-rows", "ignore")],
)
def test_bad_metadata_value_is_rejected_naming_the_key(settings: Settings, key: str, value: str):
    with pytest.raises(FileRejectedError) as caught:
        ImportOptions.from_metadata({key: value}, settings)

    assert f"metadata {key}={value!r} must be one of" in caught.value.message


@pytest.mark.parametrize("key", ["dry-run", "auto-tag"])
def test_a_flag_that_is_neither_true_nor_false_is_refused_not_read_as_false(settings: Settings, key: str):
    with pytest.raises(FileRejectedError) as caught:
        ImportOptions.from_metadata({key: "ture"}, settings)

    assert f"metadata {key}='ture' must be true or false" in caught.value.message
    assert ImportOptions.from_metadata({key: "Yes"}, settings).to_dict()[key.replace("-", "_")] is True
    assert ImportOptions.from_metadata({key: "off"}, settings).to_dict()[key.replace("-", "_")] is False


def test_every_bad_metadata_value_is_reported_at_once(settings: Settings):
    with pytest.raises(FileRejectedError) as caught:
        ImportOptions.from_metadata({"role": "admin", "existing": "overwrite"}, settings)

    assert "metadata role=" in caught.value.message
    assert "metadata existing=" in caught.value.message


def test_published_manifest_schema_matches_the_one_the_validator_uses():
    import json
    from pathlib import Path

    from intercom_importer.manifest import MANIFEST_SCHEMA

    published = Path(__file__).resolve().parents[2] / "docs" / "manifest.schema.json"
    assert json.loads(published.read_text()) == MANIFEST_SCHEMA
