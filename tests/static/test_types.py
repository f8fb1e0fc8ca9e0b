"""mypy over the shipped code and the dev tools (the configuration is pyproject's [tool.mypy]).

The functions are checked one by one: each is a module named ``app`` in its own folder, as Lambda wants.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(cache_dir: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache_dir), *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_layer_package_and_dev_tools_type_check(cache_dir: Path):
    done = _mypy(
        cache_dir,
        "layers/importer/intercom_importer",
        "devtools/importer_cli",
        "devtools/local_runtime",
        "devtools/intercom_sandbox",
    )

    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_handler_type_checks(cache_dir: Path, function: str):
    done = _mypy(cache_dir, f"functions/{function}/app.py")

    assert done.returncode == 0, done.stdout + done.stderr
