"""Security scans: checkov on the template (as written and as SAM translates it), bandit on the code.

No finding passes unless it is suppressed where the suppression can be read with its reason:
- checkov: the resource's ``Metadata: checkov: skip: [{id, comment}]`` in template.yaml;
- bandit: ``[tool.bandit] skips`` in pyproject.toml (reasons in the comment above it), ``DEVTOOLS_EXTRA_SKIPS``
  below for the never-shipped dev tools, or an inline ``# nosec BXXX`` followed by the reason.
docs/security.md explains what each scan checks and why each suppression exists.

checkov reads ``AWS::Serverless::*`` resources natively, but a SAM template as written hides what the
transform generates (each function's IAM role and policies, event source mappings, permissions, the
event invoke config). So the template is scanned twice in one checkov run: as written, and translated
offline by the same code the local runtime deploys with (no AWS access, no ``sam`` CLI). SAM carries the
functions' ``Metadata`` over to the generated functions, so the same suppressions apply to both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from local_runtime.stack import load_template, prepare_template, translate

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent
SHIPPED = ("layers", "functions")  # what goes to Lambda
DEVTOOLS = ("devtools",)  # the local runtime, the Intercom sandbox and the CLI: never deployed
SCAN_TIMEOUT = 300

# Bandit test ids skipped for devtools/ only, on top of [tool.bandit] skips (bandit has no per-path skips).
DEVTOOLS_EXTRA_SKIPS = {
    "B310": "urllib.request.urlopen is only pointed at our own http://127.0.0.1 servers (moto, the sandbox)",
    "B311": "random only jitters the sandbox's simulated latency; nothing cryptographic",
    "B404": "subprocess starts our own interpreter (handler workers, the detached local stack); B602/B605, the "
    "shell-injection checks, stay on",
    "B603": "the argv is a fixed list built from sys.executable and our own modules, never shell=True",
    "B506": "the template loader is a yaml.SafeLoader subclass with CloudFormation tag constructors, which "
    "bandit cannot see",
}
# Same parameters the local runtime deploys with; only values without a default are needed to translate.
TRANSLATE_PARAMETERS = {
    "SenderEmail": "imports@example.com",
    "NotificationRecipients": "ops@example.com",
    "IntercomTokenSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:intercom/import-token-AbCdEf",
}


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: it is in the dev extra, run `make venv`")
    return str(path)


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=SCAN_TIMEOUT, check=False, cwd=ROOT, env=env, **kwargs
    )


# ----------------------------------------------------------------------------------------- checkov
@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sam, *_ = prepare_template(load_template(TEMPLATE), ROOT, "code-bucket")
    translated = tmp_path_factory.mktemp("checkov") / "translated-template.json"
    translated.write_text(json.dumps(translate(sam, TRANSLATE_PARAMETERS, "us-east-1"), indent=1), encoding="utf-8")
    result = _run(
        [
            _tool("checkov"),
            "--file",
            str(TEMPLATE),
            "--file",
            str(translated),
            "--framework",
            "cloudformation",
            "--skip-download",  # offline: no Prisma Cloud guidelines or custom policies
            "--output",
            "json",
        ]
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"checkov did not report JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["cloudformation"], result.stderr
    return {"report": reports[0], "translated": translated}


def _short(check: dict[str, Any]) -> str:
    return f"{check['check_id']} {check['resource']} ({Path(check['file_path']).name}): {check['check_name']}"


def test_checkov_reports_no_unsuppressed_finding(checkov):
    report = checkov["report"]

    failed = [_short(check) for check in report["results"]["failed_checks"]]

    assert report["summary"]["parsing_errors"] == 0
    assert not failed, "fix these, or suppress each in the resource's Metadata with a reason:\n" + "\n".join(failed)


def test_checkov_scans_the_template_as_written_and_as_translated(checkov):
    passed = checkov["report"]["results"]["passed_checks"]
    by_file: dict[str, set[str]] = {}
    for check in passed:
        by_file.setdefault(Path(check["file_path"]).name, set()).add(check["resource"])

    assert "AWS::Serverless::Function.ValidateFunction" in by_file["template.yaml"]
    # What only the translation shows: the generated roles are checked too (wildcards, privilege escalation...).
    assert {
        f"AWS::IAM::Role.{name}FunctionRole" for name in ("Validate", "Worker", "DeadLetter", "Track", "Report")
    } <= (by_file[checkov["translated"].name])


def test_every_checkov_suppression_has_a_reason(checkov):
    skipped = checkov["report"]["results"]["skipped_checks"]

    vague = [_short(check) for check in skipped if len(check["check_result"].get("suppress_comment", "").strip()) < 40]

    assert skipped, "expected the template's documented suppressions to be reported as skipped"
    assert not vague, "every suppression needs a comment that says why:\n" + "\n".join(vague)


def test_every_checkov_suppression_is_documented():
    docs = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    sam = load_template(TEMPLATE)
    ids = {
        skip["id"]
        for resource in sam["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }

    assert ids
    assert not {i for i in ids if i not in docs}


def test_bucket_is_encrypted_whichever_key_is_chosen():
    """What CKV_AWS_19 would check, for both branches of the UseKmsKey condition it cannot evaluate."""
    sam = load_template(TEMPLATE)
    [rule] = sam["Resources"]["ImportBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]

    condition, with_key, without_key = default["SSEAlgorithm"]["Fn::If"]

    assert condition == "UseKmsKey"
    assert (with_key, without_key) == ("aws:kms", "AES256")
    assert default["KMSMasterKeyID"] == {"Fn::If": ["UseKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


# ------------------------------------------------------------------------------------------ bandit
def _bandit(targets: tuple[str, ...], extra_skips: dict[str, str] | None = None) -> list[str]:
    argv = [_tool("bandit"), "-c", "pyproject.toml", "-r", *targets, "-f", "json", "-q"]
    if extra_skips:
        argv += ["-s", ",".join(sorted(extra_skips))]
    result = _run(argv)
    try:
        report = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"bandit did not report JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    assert not report["errors"], report["errors"]
    assert report["metrics"]["_totals"]["loc"] > 0, "bandit scanned no code"
    return [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['test_name']}: {r['issue_text']}"
        for r in report["results"]
    ]


def test_bandit_reports_no_unsuppressed_finding_in_shipped_code():
    findings = _bandit(SHIPPED)

    assert not findings, "fix these, or add `# nosec BXXX` and the reason on the line:\n" + "\n".join(findings)


def test_bandit_reports_no_unsuppressed_finding_in_devtools():
    findings = _bandit(DEVTOOLS, DEVTOOLS_EXTRA_SKIPS)

    assert not findings, "fix these, or add `# nosec BXXX` and the reason on the line:\n" + "\n".join(findings)


def test_every_bandit_skip_has_a_reason():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    skips = tomllib.loads(text)["tool"]["bandit"]["skips"]

    undocumented = [s for s in skips if not re.search(rf"^#\s+{s} \w+: \S.{{30,}}", text, re.MULTILINE)]

    assert skips
    assert not undocumented, "explain each skipped bandit test in a comment above [tool.bandit] skips"
    assert all(len(reason) > 30 for reason in DEVTOOLS_EXTRA_SKIPS.values())
    assert not set(DEVTOOLS_EXTRA_SKIPS) & set(skips)
