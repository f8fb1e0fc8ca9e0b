"""The intercom-import command: run (whole pipeline, --json) and sandbox."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from importer_cli.main import main

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_run_json_prints_one_summary_object_on_stdout(capsys, tmp_path):
    code = main(["run", str(ROOT / "events" / "people.csv"), "--json", "--quiet", "--log-dir", str(tmp_path)])
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert code == 0
    assert summary["status"] == "completed"
    assert (summary["rows"], summary["created"], summary["invalid"]) == (6, 6, 0)
    assert summary["emails_sent"] == 1
    assert summary["email"]["subject"].startswith("Import completed")
    assert len(summary["intercom"]["contacts"]) == 6


def test_run_with_a_missing_file_says_so_in_one_line(capsys):
    code = main(["run", "no-such-file.csv"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "no-such-file.csv: no such file" in err


def test_sandbox_command_serves_intercom_until_stopped():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from importer_cli.main import main; sys.exit(main())",
            "sandbox",
            "--port",
            str(port),
            "--token",
            "cli-token",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ok = requests.get(
                    f"http://127.0.0.1:{port}/me",
                    headers={"Authorization": "Bearer cli-token", "Accept": "application/json"},
                    timeout=2,
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (
                    proc.stderr.read().decode() if proc.poll() is not None else "no start"
                )
                time.sleep(0.1)
        bad = requests.get(
            f"http://127.0.0.1:{port}/me",
            headers={"Authorization": "Bearer wrong", "Accept": "application/json"},
            timeout=2,
        )
        assert ok.status_code == 200
        assert bad.status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
