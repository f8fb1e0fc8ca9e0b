"""intercom-import run / up --sandbox-profile and --sandbox-search-lag without starting a stack: up --detach hands
them to the background process, and they are refused where no sandbox is started. That run's sandbox gets them:
test_cli.py (its --json run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from importer_cli import local_stack
from importer_cli.main import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = str(ROOT / "events" / "people.csv")


def test_up_detach_passes_the_sandbox_options_to_the_background_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forwarded: list[list[str]] = []
    served: list[dict[str, Any]] = []

    def detach(forward: list[str], **_: Any) -> dict[str, Any]:
        forwarded.append(forward)
        return {"pid": 1}

    monkeypatch.setattr(local_stack, "detach", detach)
    monkeypatch.setattr(local_stack, "serve", lambda **kwargs: served.append(kwargs))

    detached = main(["up", "--detach", "--json", "--sandbox-profile", "friendly", "--sandbox-search-lag", "5"])
    background = main(["up", "--background", *forwarded[0]])  # what the background process is started with
    capsys.readouterr()

    assert (detached, background) == (0, 0)
    assert forwarded == [
        ["--port", "0", "--sandbox-port", "0", "--sandbox-profile", "friendly", "--sandbox-search-lag", "5.0"]
    ]
    assert (served[0]["sandbox_profile"], served[0]["sandbox_search_lag"]) == ("friendly", 5.0)


def test_up_detach_without_sandbox_options_leaves_the_default_to_the_background_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forwarded: list[list[str]] = []
    monkeypatch.setattr(local_stack, "detach", lambda forward, **_: forwarded.append(forward) or {"pid": 1})

    assert main(["up", "--detach", "--json"]) == 0
    capsys.readouterr()

    assert forwarded == [["--port", "0", "--sandbox-port", "0"]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["up", "--intercom-url", "http://127.0.0.1:9", "--intercom-token", "t", "--sandbox-profile", "documented"],
            "--sandbox-profile and --sandbox-search-lag configure the Intercom sandbox; "
            "with --intercom-url no sandbox is started",
        ),
        (
            [
                "run",
                PEOPLE,
                "--intercom-url",
                "http://127.0.0.1:9",
                "--intercom-token",
                "t",
                "--sandbox-search-lag",
                "5",
            ],
            "--sandbox-profile and --sandbox-search-lag configure the Intercom sandbox; "
            "with --intercom-url no sandbox is started",
        ),
        (
            ["run", PEOPLE, "--outputs", "stack.json", "--sandbox-profile", "friendly"],
            "--intercom-url, --ephemeral, --sandbox-profile, --sandbox-search-lag and --config parameters configure "
            "a local stack; a deployed stack (--stack/--outputs) keeps its own settings",
        ),
    ],
)
def test_sandbox_options_without_a_sandbox_are_a_one_line_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip()

    assert code == 2
    assert err.count("\n") == 0
    assert err.endswith(message)
