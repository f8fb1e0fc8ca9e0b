"""Every ``sh``, ``bash`` and ``json`` example of README.md, run as written.

The shell examples run in README order in one bash session (``set -euo pipefail``) from the repository's root,
as a reader pastes them: the Quickstart activates ``.venv`` and starts the local stack with ``up --detach``, and the
later examples use it, the AWS CLI's (``aws ...``) and ``--stack importer-prod`` through moto, as they would use AWS.
Only what cannot run on this machine is left out (``NOT_RUN``, each with its reason), and the few words that must
differ here are replaced (``substitutions``, each with its reason); both lists must match the README, so neither
can go stale. A ``json`` example shows a file of the repository (``<!-- file: PATH -->`` before it) and must equal
it; the shell examples use those files. Then every import the examples started must have completed, and each pair
the README calls "one upload made two ways" must have recorded the same settings.

Inline ``intercom-import ...`` commands in the prose are checked too: each must parse with the CLI's own parser.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from importer_cli.main import build_parser
from intercom_importer.jobs import TERMINAL

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHELL = ("sh", "bash")
LOCAL_STACK_NAME = "intercom-importer-local"  # the CloudFormation stack `intercom-import up` creates in moto

# The commands that cannot run on this machine, with the reason; each must be a command of a README example.
NOT_RUN = {
    "make test": "it is the suite this test is part of",
    "make run": "it is `intercom-import run events/people.csv` on an ephemeral stack, which tests/integration/"
    "test_cli.py::test_run_as_make_run_prints_progress_the_summary_email_and_what_landed runs (its output checked)",
    "sam build": "the AWS SAM CLI is not installed here; template.yaml is checked by cfn-lint and run by the local "
    "runtime (tests/integration/test_local_runtime_real_template.py)",
    "sam deploy --guided": "it needs an AWS account and asks questions; the local stack of `up` stands in for the "
    "stack it creates (see substitutions)",
    "INTERCOM_TOKEN=... intercom-import doctor --intercom-region eu": "it needs a workspace's token and Intercom's EU "
    "host (no network here); tests/integration/test_doctor.py runs the doctor against the sandbox over HTTP",
}


@dataclass(frozen=True)
class Example:
    line: int  # the README line of the opening fence
    language: str
    text: str
    file: str | None  # the repository file a json example shows (<!-- file: PATH --> just before it)


def examples(markdown: str) -> list[Example]:
    """The fenced code blocks of ``markdown`` in the languages this test runs, in order."""
    found: list[Example] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = re.fullmatch(r"```(\w*)\s*", lines[index])
        if opening is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        if opening.group(1) in (*SHELL, "json"):
            marker = re.fullmatch(r"<!-- file: (\S+) -->", lines[index - 1].strip()) if index else None
            body = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Example(index + 1, opening.group(1), body, marker.group(1) if marker else None))
        index = end + 1
    return found


def commands(text: str) -> Iterator[str]:
    """The commands of a shell example: continuation lines joined, comments and blank lines dropped."""
    for logical in re.sub(r"\\\n\s*", " ", text).splitlines():
        command = re.sub(r"\s+#.*$", "", logical).strip()
        if command and not command.startswith("#"):
            yield command


@dataclass(frozen=True)
class Substitution:
    written: str
    here: str
    why: str


def substitutions(moto_port: int, sandbox_port: int) -> list[Substitution]:
    venv = Path(sys.prefix)
    subs = [
        Substitution(
            "intercom-import up --detach",
            f"intercom-import up --detach --port {moto_port} --sandbox-port {sandbox_port} --sandbox-search-lag 1",
            "the AWS CLI and --stack reach moto on a known port (AWS_ENDPOINT_URL), as they reach AWS; the "
            "documented 180 s search lag would make the doctor's probe wait 3 minutes",
        ),
        Substitution(
            "importer-prod", LOCAL_STACK_NAME, "sam deploy cannot run here: the local stack is the deployed one"
        ),
    ]
    if venv != ROOT / ".venv":  # pytest runs from another virtual environment than `make test`'s
        subs += [
            Substitution("source .venv/bin/activate", f"source {venv}/bin/activate", "this test's venv"),
            Substitution("make ", f"make VENV={venv} ", "this test's venv"),
        ]
    return subs


def script(shell_examples: list[Example], subs: list[Substitution]) -> str:
    """One bash script of every shell example, NOT_RUN commands replaced by a note, ``subs`` applied."""
    parts = ["set -euo pipefail", "PS4='+ ${SECONDS}s README: '", "set -x"]
    for example in shell_examples:
        parts.append(f": README.md line {example.line}")
        text = example.text
        for command in commands(text):
            if command in NOT_RUN:
                text = text.replace(command, f": not run here: {shlex.quote(command)}", 1)
        for sub in subs:
            text = text.replace(sub.written, sub.here)
        parts.append(text)
    return "\n".join(parts) + "\n"


@pytest.mark.e2e
def test_every_shell_and_json_example_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    found = examples(README.read_text(encoding="utf-8"))
    shell = [e for e in found if e.language in SHELL]
    every_command = [c for e in shell for c in commands(e.text)]
    assert shell and any("intercom-import" in c for c in every_command), "no shell example found in README.md"
    assert not set(NOT_RUN) - set(every_command), f"NOT_RUN names commands the README no longer has: {NOT_RUN}"

    for example in (e for e in found if e.language == "json"):
        assert example.file, f"README.md line {example.line}: say which file the json shows (<!-- file: PATH -->)"
        assert json.loads(example.text) == json.loads((ROOT / example.file).read_text()), (
            f"README.md line {example.line} differs from {example.file}"
        )

    moto_port, sandbox_port = _free_port(), _free_port()
    subs = substitutions(moto_port, sandbox_port)
    text = "\n".join(e.text for e in shell)
    assert all(s.written in text for s in subs), [s.written for s in subs if s.written not in text]
    env = _environment(tmp_path, moto_port)
    try:
        done = subprocess.run(
            ["bash", "-c", script(shell, subs)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        (tmp_path / "script.log").write_text(done.stderr)
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-6000:]}\nstdout:\n{done.stdout[-3000:]}"
        _check_the_imports(env, every_command)
    finally:
        subprocess.run([sys.executable, "-m", "importer_cli", "down"], env=env, capture_output=True, timeout=60)


def _check_the_imports(env: dict[str, str], every_command: list[str]) -> None:
    """Every import the examples started on the stack of `up` completed, and each pair the README calls one upload recorded the same
    settings."""
    kept = every_command[every_command.index("intercom-import up --detach") :]  # before it, `run` is ephemeral
    started = sum(
        1
        for c in kept
        if c.startswith(
            ("make run", "intercom-import run ", "JOB=$(intercom-import upload ", "intercom-import upload ")
        )
        or re.match(r"aws s3 cp \S+\.csv ", c)
    )
    jobs = _cli_json(env, "history", "--limit", "100")
    assert len(jobs) == started, f"{started} imports started by the examples, the stack has {len(jobs)}: {jobs}"
    deadline = time.monotonic() + 120
    while any(j["status"] not in TERMINAL for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.5)
        jobs = _cli_json(env, "history", "--limit", "100")
    assert all(j["status"] == "completed" for j in jobs), [(j["job_id"], j["status"]) for j in jobs]

    def settings(job: dict[str, Any]) -> dict[str, Any]:  # without the job's own auto tag (import-DATE-JOB)
        tags = [t for t in job["options"]["tags"] if not t.endswith(job["job_id"].removeprefix("job-")[:8])]
        return {**job["options"], "tags": tags}

    skip_people = [j for j in jobs if j["key"] == "incoming/people.csv" and j["options"]["existing"] == "skip"]
    customers = [j for j in jobs if j["key"] == "incoming/customers.csv" and not j["dry_run"]]
    for pair in (skip_people, customers):
        assert len(pair) == 2 and settings(pair[0]) == settings(pair[1]), pair
    assert settings(customers[0])["tags"] == ["spring-campaign"], customers[0]["options"]


def _cli_json(env: dict[str, str], *argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "importer_cli", *argv, "--json"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _environment(tmp_path: Path, moto_port: int) -> dict[str, str]:
    """A reader's shell: their PATH, and AWS credentials that reach moto as theirs reach AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "INTERCOM_"))}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        INTERCOM_IMPORT_LOCAL_DIR=str(tmp_path / "local"),
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------- inline commands
INLINE = re.compile(r"`(intercom-import [^`]+)`")
# inline spans that name something other than a command line to run
NOT_A_COMMAND = {"intercom-import doctor probe (safe to delete)": "the name the doctor gives its probe leads"}


COMMANDS = set(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)


@pytest.mark.unit
def test_every_inline_cli_command_of_the_readme_parses() -> None:
    spans = INLINE.findall(README.read_text(encoding="utf-8"))
    assert spans
    checked, wrong = 0, []
    for span in spans:
        argv = shlex.split(span)[1:]
        if span in NOT_A_COMMAND or re.search(r"[\[\]|<>…]|\.\.\.", span) or not argv or argv[0].isupper():
            continue  # a synopsis ([optional], a|b, ..., COMMAND) or a name, not a command line
        names = [a for a in argv if a != "/"]
        if (
            len(names) == 1 and not names[0].startswith("-")
        ) or "/" in argv:  # names commands (`intercom-import undo`): each must be one
            wrong += [span] if set(names) - COMMANDS else []
            checked += 1
            continue
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            if exc.code:  # 0: --help
                wrong.append(span)
        checked += 1
    assert not wrong, f"README.md: inline commands the CLI refuses: {wrong}"
    assert checked >= 10, f"only {checked} inline commands checked"
