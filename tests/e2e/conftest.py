"""Fixtures every end-to-end module may ask for; each module brings its own ``pipeline`` (its stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def stack_file(pipeline: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's stack as the CLI reaches it (``--outputs stack.json``)."""
    return Path(pipeline.stack_file(tmp_path_factory.mktemp("cli")))
