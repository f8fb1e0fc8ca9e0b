"""The sandbox's named profiles: their values, the name a config shows, and the command-line options that pick
one (``python -m intercom_sandbox --profile``, ``intercom-import run/up --sandbox-profile``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from importer_cli import local_stack
from importer_cli.main import build_parser as importer_parser
from intercom_sandbox.app import Request, SandboxApp
from intercom_sandbox.cli import build_parser, config_from_args
from intercom_sandbox.config import PROFILES, ConfigError, SandboxConfig

pytestmark = pytest.mark.unit


def sandbox_config(*argv: str) -> SandboxConfig:
    return config_from_args(build_parser().parse_args(list(argv)))


# ---------------------------------------------------------------- the profiles' values


def test_documented_profile_is_a_three_minute_search_lag_and_email_conflicts_only_without_external_id() -> None:
    assert PROFILES["documented"] == {
        "search_lag_seconds": 180.0,
        "search_update_lag_seconds": 180.0,  # Intercom says nothing of updates: the less convenient reading
        "email_conflicts": "without_external_id",
    }
    assert SandboxConfig.documented() == SandboxConfig(
        search_lag_seconds=180.0, search_update_lag_seconds=180.0, email_conflicts="without_external_id"
    )


def test_friendly_profile_is_the_sandbox_defaults() -> None:
    assert PROFILES["friendly"] == {
        "search_lag_seconds": 0.0,
        "search_update_lag_seconds": 0.0,
        "email_conflicts": "always",
    }
    assert SandboxConfig.friendly() == SandboxConfig()
    assert SandboxConfig().profile == "friendly"


def test_documented_search_lag_is_its_parameter_and_other_fields_pass_through() -> None:
    config = SandboxConfig.documented(search_lag_seconds=5.0, token="t", rate_limit_per_window=100)

    assert config == SandboxConfig(
        token="t",
        rate_limit_per_window=100,
        search_lag_seconds=5.0,
        search_update_lag_seconds=5.0,  # follows the search lag
        email_conflicts="without_external_id",
    )
    assert (
        SandboxConfig.documented(search_lag_seconds=5.0, search_update_lag_seconds=0.0).search_update_lag_seconds == 0
    )
    assert config.profile == "documented"


@pytest.mark.parametrize(
    ("fields", "profile"),
    [
        ({"search_lag_seconds": 600.0, "email_conflicts": "without_external_id"}, "documented"),
        ({"search_lag_seconds": 0.0, "email_conflicts": "without_external_id"}, "custom"),
        ({"search_lag_seconds": 5.0, "email_conflicts": "always"}, "custom"),
        ({"search_lag_seconds": 0.0, "email_conflicts": "always"}, "friendly"),
    ],
)
def test_a_config_is_named_by_the_profile_its_values_match(fields: dict[str, Any], profile: str) -> None:
    assert SandboxConfig(**fields).profile == profile


def test_describe_names_the_profile_and_its_values() -> None:
    assert SandboxConfig.documented(search_lag_seconds=5.0).describe() == (
        "documented profile: search lag 5 s, e-mail conflicts only without an external_id"
    )
    assert SandboxConfig().describe() == "friendly profile: search lag 0 s, e-mail conflicts always"


# ---------------------------------------------------------------- changing the profile at run time


def test_replace_with_a_profile_applies_its_values_then_the_other_changes() -> None:
    before = SandboxConfig(token="t", latency_ms=20.0)

    after = before.replace(profile="documented", search_lag_seconds=5.0)

    assert after == SandboxConfig(
        token="t",
        latency_ms=20.0,
        search_lag_seconds=5.0,
        search_update_lag_seconds=5.0,
        email_conflicts="without_external_id",
    )
    assert after.replace(profile="friendly") == before


@pytest.mark.parametrize("profile", ["lenient", ["documented"], None])
def test_an_unknown_profile_is_refused(profile: object) -> None:
    with pytest.raises(ConfigError, match="profile must be one of documented, friendly, custom"):
        SandboxConfig().replace(profile=profile)


@pytest.mark.parametrize(
    "config",
    [
        SandboxConfig.documented(search_lag_seconds=5.0, token="t"),
        SandboxConfig(search_lag_seconds=5.0),  # custom
        SandboxConfig(rate_limit_per_window=10),
    ],
)
def test_what_the_admin_api_shows_can_be_sent_back_as_it_is(config: SandboxConfig) -> None:
    assert SandboxConfig().replace(**config.as_admin_dict()) == config


def test_admin_config_takes_a_profile_and_shows_the_effective_values() -> None:
    app = SandboxApp(SandboxConfig(rate_limit_per_window=50))
    body = json.dumps({"profile": "documented", "search_lag_seconds": 30}).encode()

    changed = app.handle(Request("POST", "/__sandbox/config", {}, body))
    shown = app.handle(Request("GET", "/__sandbox/config", {}))
    refused = app.handle(Request("POST", "/__sandbox/config", {}, b'{"profile": "lenient"}'))

    assert changed.status == shown.status == 200
    assert (
        changed.json()
        == shown.json()
        == {
            "profile": "documented",
            "token": None,
            "rate_limit_per_window": 50,
            "window_seconds": 10.0,
            "latency_ms": 0.0,
            "jitter_ms": 0.0,
            "search_lag_seconds": 30,
            "search_update_lag_seconds": 30,
            "attribute_cap": 250,
            "email_conflicts": "without_external_id",
        }
    )
    assert refused.status == 400
    assert app.config.search_lag_seconds == 30


# ---------------------------------------------------------------- python -m intercom_sandbox


def test_sandbox_cli_defaults_to_the_friendly_profile() -> None:
    assert sandbox_config() == SandboxConfig()


def test_sandbox_cli_profile_documented() -> None:
    assert sandbox_config("--profile", "documented") == SandboxConfig.documented()


@pytest.mark.parametrize(
    ("argv", "lag", "email_conflicts", "profile"),
    [
        (["--profile", "documented", "--search-lag", "5"], 5.0, "without_external_id", "documented"),
        (["--profile", "documented", "--email-conflicts", "always"], 180.0, "always", "custom"),
        (["--profile", "friendly", "--search-lag", "7"], 7.0, "always", "custom"),
        (["--email-conflicts", "without_external_id"], 0.0, "without_external_id", "custom"),
    ],
)
def test_sandbox_cli_knobs_override_the_profile(
    argv: list[str], lag: float, email_conflicts: str, profile: str
) -> None:
    config = sandbox_config(*argv, "--token", "t")

    assert (config.search_lag_seconds, config.email_conflicts, config.profile, config.token) == (
        lag,
        email_conflicts,
        profile,
        "t",
    )


def test_sandbox_cli_refuses_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--profile", "lenient"])
    assert exited.value.code == 2
    assert "argument --profile: invalid choice: 'lenient'" in capsys.readouterr().err


# ---------------------------------------------------------------- intercom-import run / up


@pytest.mark.parametrize("command", [["run", "x.csv"], ["up"]])
def test_run_and_up_take_the_sandbox_profile_and_search_lag(command: list[str]) -> None:
    args = importer_parser().parse_args([*command, "--sandbox-profile", "documented", "--sandbox-search-lag", "5"])
    defaults = importer_parser().parse_args(command)

    assert (args.sandbox_profile, args.sandbox_search_lag) == ("documented", 5.0)
    assert (defaults.sandbox_profile, defaults.sandbox_search_lag) == (None, None)


@pytest.mark.parametrize("lag", ["-1", "nan", "soon"])
def test_run_refuses_a_search_lag_that_is_not_seconds(lag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        importer_parser().parse_args(["run", "x.csv", "--sandbox-search-lag", lag])
    assert exited.value.code == 2
    assert f"argument --sandbox-search-lag: {lag!r} is not a number of seconds >= 0" in capsys.readouterr().err


def test_the_local_stacks_sandbox_is_documented_by_default_at_the_stacks_rate_limit() -> None:
    assert local_stack.DEFAULT_SANDBOX_PROFILE == "documented"
    assert local_stack.sandbox_config() == SandboxConfig.documented(rate_limit_per_window=10_000 // 6)


def test_the_local_stacks_sandbox_takes_the_profile_and_search_lag_given() -> None:
    parameters = {"IntercomRateLimitPerMinute": 600}

    assert local_stack.sandbox_config(parameters, "friendly") == SandboxConfig(rate_limit_per_window=100)
    assert local_stack.sandbox_config(parameters, "documented", 5.0) == SandboxConfig.documented(
        search_lag_seconds=5.0, rate_limit_per_window=100
    )
