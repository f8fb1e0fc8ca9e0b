"""`intercom-import doctor` against the Intercom sandbox over HTTP, through the CLI's own ``main``: each check, the
measured search lag and rate limit, the probes deleted whatever happens (a failure, Ctrl-C, SIGTERM) or kept with
--keep, and the failures a person can meet (a refused token, a wrong region, a 429 storm) as checks with their fix,
never a traceback. The sandbox runs on the real clock: the lag is measured in real seconds, so the lags are short."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from importer_cli.doctor import search_checks
from importer_cli.main import main
from intercom_sandbox import SandboxServer
from sandbox_fixtures import SandboxSession

pytestmark = pytest.mark.integration

TOKEN = "doctor-token-5f1c"  # the sandbox's token; the tests check it is never printed
HOUR = 3600.0  # a rate-limit window no test crosses (the windows are aligned to the epoch)


@pytest.fixture
def intercom(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The sandbox with a token and a rate limit: 1000 calls per hour-long window, searchable at once."""
    sandbox.configure(token=TOKEN, rate_limit_per_window=1000, window_seconds=HOUR, search_lag_seconds=0)
    yield sandbox


def doctor(sandbox: SandboxServer, *options: str, token: str = TOKEN) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["doctor", "--intercom-url", sandbox.url, "--intercom-token", token, "--max-wait", "10", *options]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert token not in out.getvalue() + err.getvalue()  # the token is never printed
    return code, out.getvalue(), err.getvalue()


def doctor_json(sandbox: SandboxServer, *options: str, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
    code, out, _ = doctor(sandbox, "--json", *options, token=token)
    return code, json.loads(out)


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["name"] == name]
    assert len(found) == 1, f"one {name!r} check in {[c['name'] for c in report['checks']]}"
    return found[0]


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def contacts_left(sandbox: SandboxServer) -> list[dict[str, Any]]:
    return sandbox.state()["contacts"]  # archived ones included


def seed_attributes(session: SandboxSession, model: str, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        answer = session.post(
            "/data_attributes", json={"name": f"{model}_attr_{i}", "model": model, "data_type": "string"}
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture
def session(intercom: SandboxServer) -> Iterator[SandboxSession]:
    with SandboxSession(intercom.url) as s:
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        yield s


# ---------------------------------------------------------------- every check, and what --json holds


def test_every_check_is_ok_against_the_sandbox_and_exit_is_0(intercom):
    code, report = doctor_json(intercom)

    assert code == 0
    assert statuses(report) == {
        "token and workspace": "ok",
        "rate limit": "ok",
        "region": "ok",
        "custom attributes": "ok",
        "search lag": "ok",
        "search shows updates": "ok",
        "email case in search": "ok",
        "lead external_id": "ok",
        "custom attribute values": "not checked",  # it would need a data attribute: nothing permanent is created
        "probe cleanup": "ok",
    }
    assert report["ok"] is True
    assert intercom.state()["data_attributes"] == []  # nothing permanent


def test_json_holds_the_app_its_region_the_lag_and_the_rate_limit(intercom):
    _, report = doctor_json(intercom)

    assert report["app"] == {"id_code": "sandbox1", "name": "Intercom Sandbox", "region": "US"}
    assert report["region"] == "us"
    assert report["rate_limit_per_window"] == 1000
    assert report["rate_limit_remaining"] == 999  # the doctor's GET /me was the window's first call
    assert isinstance(report["search_lag_seconds"], float)
    assert report["probes_left"] == []
    for item in report["checks"]:
        assert set(item) == {"name", "status", "detail", "fix"}


def test_the_search_lag_is_measured_within_two_seconds(intercom):
    intercom.configure(search_lag_seconds=3)

    code, report = doctor_json(intercom)

    assert code == 0
    assert 3.0 <= report["search_lag_seconds"] <= 5.0
    assert "showed in search" in check(report, "search lag")["detail"]


def test_no_probe_contact_remains_afterwards(intercom):
    intercom.configure(search_lag_seconds=1)

    doctor_json(intercom)

    assert contacts_left(intercom) == []
    calls = intercom.stats()
    assert "DELETE /contacts/{contact_id}" in json.dumps(calls)  # deleted, not archived


def test_keep_leaves_the_probes_in_intercom_and_lists_them(intercom):
    code, report = doctor_json(intercom, "--keep")

    assert code == 0  # kept on request: a warning, nothing failed
    kept = sorted(c["id"] for c in contacts_left(intercom))
    assert len(kept) == 2 and sorted(report["probes_left"]) == kept
    cleanup = check(report, "probe cleanup")
    assert cleanup["status"] == "warning" and "--keep" in cleanup["detail"]
    assert "DELETE" in cleanup["fix"]
    assert all(c["name"].startswith("intercom-import doctor probe (safe to delete)") for c in contacts_left(intercom))
    assert len(contacts_left(intercom)) == 2


def test_text_output_is_one_line_per_check_with_the_fix_under_a_failure(intercom):
    code, out, _ = doctor(intercom, "--intercom-region", "eu")

    lines = out.splitlines()
    assert code == 1
    assert lines[0].split()[:4] == ["ok", "token", "and", "workspace"]
    region = next(i for i, line in enumerate(lines) if line.startswith("failed") and " region " in line)
    assert lines[region + 1].strip().startswith("fix: give --intercom-region us")
    assert lines[-1].startswith("doctor: FAILED:")


# ---------------------------------------------------------------- what a person can meet


def test_a_refused_token_fails_with_the_fix_and_exit_1(intercom):
    code, report = doctor_json(intercom, token="not-the-token")

    assert code == 1
    token = check(report, "token and workspace")
    assert token["status"] == "failed" and "refused the token" in token["detail"]
    assert "--intercom-token" in token["fix"] and "INTERCOM_TOKEN" in token["fix"]
    others = {
        name: status
        for name, status in statuses(report).items()
        if name not in ("token and workspace", "probe cleanup")
    }
    assert set(others.values()) == {"not checked"}
    assert contacts_left(intercom) == []


@pytest.mark.parametrize("option", ["--intercom-region", "--region"])
def test_a_wrong_region_fails_with_the_right_one_as_the_fix(intercom, option):
    code, report = doctor_json(intercom, option, "eu")

    assert code == 1
    region = check(report, "region")
    assert region["status"] == "failed"
    assert "in US" in region["detail"] and "EU" in region["detail"]
    assert "--intercom-region us" in region["fix"]


def test_a_429_storm_fails_the_rate_limit_check_with_the_fix(intercom):
    intercom.configure(window_seconds=1)  # the client waits for each 429's reset: at most a second
    intercom.add_fault(kind="status", status=429, times=50)

    code, report = doctor_json(intercom)

    assert code == 1
    rate = check(report, "rate limit")
    assert rate["status"] == "failed" and "429" in rate["detail"]
    assert "other integrations" in rate["fix"]
    assert check(report, "token and workspace")["status"] == "not checked"
    assert contacts_left(intercom) == []


def test_a_short_burst_of_429s_waited_out_is_a_warning(intercom):
    intercom.configure(window_seconds=1)
    intercom.add_fault(kind="status", status=429, times=2)

    code, report = doctor_json(intercom)

    assert code == 0
    rate = check(report, "rate limit")
    assert rate["status"] == "warning" and "2 calls with 429" in rate["detail"]
    assert rate["fix"]


def test_calls_made_by_others_in_the_window_are_a_warning(intercom, session):
    left = HOUR - time.time() % HOUR  # the windows are aligned to the epoch: the test's calls stay in one
    if left < 30:
        time.sleep(left + 0.5)
    for _ in range(5):
        assert session.get("/me").status_code == 200

    code, report = doctor_json(intercom)

    assert code == 0
    rate = check(report, "rate limit")
    assert rate["status"] == "warning"
    assert "5 calls of that window were made by other clients" in rate["detail"]
    assert report["rate_limit_remaining"] == 1000 - 5 - 1


def test_a_probe_that_never_shows_within_max_wait_is_a_warning(intercom):
    intercom.configure(search_lag_seconds=60)

    code, report = doctor_json(intercom, "--max-wait", "2")

    assert code == 0
    lag = check(report, "search lag")
    assert lag["status"] == "warning" and "--max-wait" in lag["fix"]
    assert report["search_lag_seconds"] is None
    assert check(report, "email case in search")["status"] == "not checked"
    assert contacts_left(intercom) == []


def test_a_probe_whose_delete_fails_is_listed_with_how_to_delete_it(intercom):
    intercom.add_fault(method="DELETE", path="/contacts/{contact_id}", kind="status", status=500, times=100)

    code, report = doctor_json(intercom)

    assert code == 1
    cleanup = check(report, "probe cleanup")
    assert cleanup["status"] == "failed"
    assert sorted(report["probes_left"]) == sorted(c["id"] for c in contacts_left(intercom))
    assert len(report["probes_left"]) == 2
    assert "curl -X DELETE" in cleanup["fix"] and "$INTERCOM_TOKEN" in cleanup["fix"]


def test_a_lead_refused_an_external_id_is_a_warning_with_the_fix(intercom, monkeypatch):
    measure = search_checks.measure_search_lag

    def then_refuse(*args: Any, **kwargs: Any) -> Any:
        result = measure(*args, **kwargs)
        intercom.add_fault(
            method="POST",
            path="/contacts",
            kind="status",
            status=400,
            code="parameter_invalid",
            message="External ID can't be set for role type of lead",
        )
        return result

    monkeypatch.setattr(search_checks, "measure_search_lag", then_refuse)

    code, report = doctor_json(intercom)

    assert code == 0
    lead = check(report, "lead external_id")
    assert lead["status"] == "warning" and "role type of lead" in lead["detail"]
    assert "role user" in lead["fix"]
    assert contacts_left(intercom) == []


# ---------------------------------------------------------------- interrupted


def test_an_interrupted_doctor_still_deletes_its_probe(intercom, monkeypatch):
    intercom.configure(search_lag_seconds=60)

    def interrupted(*args: Any, **kwargs: Any) -> bool:
        assert len(contacts_left(intercom)) == 1  # the probe exists when the interrupt comes
        raise KeyboardInterrupt

    monkeypatch.setattr(search_checks, "search_finds", interrupted)

    code, out, err = doctor(intercom, "--json")

    assert code == 130
    assert contacts_left(intercom) == []
    assert check(json.loads(out), "probe cleanup")["status"] == "ok"
    assert "interrupted" in err


def test_sigterm_during_the_wait_still_deletes_the_probe(intercom, monkeypatch):
    intercom.configure(search_lag_seconds=60)

    def terminated(*args: Any, **kwargs: Any) -> bool:
        os.kill(os.getpid(), signal.SIGTERM)
        return False

    monkeypatch.setattr(search_checks, "search_finds", terminated)
    before = signal.getsignal(signal.SIGTERM)

    code, _, _ = doctor(intercom, "--json")

    assert code == 130
    assert contacts_left(intercom) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the doctor's handler is gone


def test_ctrl_c_while_the_probes_are_deleted_waits_for_the_deletes(intercom, monkeypatch):
    from intercom_importer.intercom.client import IntercomClient

    delete = IntercomClient.delete_contact

    def interrupted_delete(self: IntercomClient, contact_id: str) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during the first delete
        return delete(self, contact_id)

    monkeypatch.setattr(IntercomClient, "delete_contact", interrupted_delete)

    code, out, _ = doctor(intercom, "--json")

    assert code == 130
    assert contacts_left(intercom) == []  # both probes deleted before the interrupt was let through
    assert check(json.loads(out), "probe cleanup")["status"] == "ok"


# ---------------------------------------------------------------- custom attributes


def test_custom_attributes_are_counted_per_model(intercom, session):
    seed_attributes(session, "contact", 3)
    seed_attributes(session, "company", 2)

    _, report = doctor_json(intercom)

    attributes = check(report, "custom attributes")
    assert attributes["status"] == "ok"
    assert attributes["detail"] == "5 of the 250 custom attributes used (people 3, companies 2)"


def test_custom_attributes_near_the_cap_are_a_warning(intercom, session):
    seed_attributes(session, "contact", 200)
    seed_attributes(session, "company", 26)

    code, report = doctor_json(intercom)

    assert code == 0
    attributes = check(report, "custom attributes")
    assert attributes["status"] == "warning" and "only 24 more" in attributes["detail"]
    assert "archive" in attributes["fix"]


def test_custom_attributes_at_the_cap_fail(intercom, session):
    seed_attributes(session, "contact", 250)

    code, report = doctor_json(intercom)

    assert code == 1
    attributes = check(report, "custom attributes")
    assert attributes["status"] == "failed" and "250 of the 250" in attributes["detail"]
    assert len(intercom.state()["data_attributes"]) == 250  # the doctor created none


# ---------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "argv",
    [
        ["doctor", "--intercom-url", "http://127.0.0.1:9", "--intercom-token", "t", "--stack", "prod"],
        ["doctor", "--intercom-token", "t", "--max-wait", "0"],
        ["doctor", "--intercom-token", "t", "--intercom-region", "mars"],
        ["doctor", "--intercom-region", "eu", "--region", "us"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_without_a_token_it_says_how_to_give_one(monkeypatch, capsys):
    monkeypatch.delenv("INTERCOM_TOKEN", raising=False)

    code = main(["doctor", "--intercom-url", "http://127.0.0.1:9"])

    assert code == 2
    assert "INTERCOM_TOKEN" in capsys.readouterr().err


def test_the_token_may_come_from_the_environment(intercom, monkeypatch):
    monkeypatch.setenv("INTERCOM_TOKEN", TOKEN)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["doctor", "--intercom-url", intercom.url, "--json"])

    assert code == 0
    assert json.loads(out.getvalue())["app"]["id_code"] == "sandbox1"


def test_without_a_local_stack_or_intercom_it_says_how_to_give_either(tmp_path, monkeypatch, capsys):
    from importer_cli import local_stack

    monkeypatch.setenv(local_stack.STATE_DIR_ENV, str(tmp_path / "state"))  # no stack a developer left running

    code = main(["doctor"])

    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "no local stack is running" in err and "--intercom-url/--intercom-region" in err


def test_search_showing_old_values_after_an_update_is_a_warning_with_the_seconds(intercom):
    intercom.configure(search_lag_seconds=1, search_update_lag_seconds=3)

    code, report = doctor_json(intercom)

    assert code == 0
    late = check(report, "search shows updates")
    assert late["status"] == "warning" and "old name for" in late["detail"] and late["fix"]
    assert 3.0 <= report["search_update_lag_seconds"] <= 5.0
    assert contacts_left(intercom) == []


def test_search_showing_updates_at_once_is_ok(intercom):
    code, report = doctor_json(intercom)

    assert code == 0 and check(report, "search shows updates")["status"] == "ok"
    assert report["search_update_lag_seconds"] is not None and report["search_update_lag_seconds"] <= 1.0
