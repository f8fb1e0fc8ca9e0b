"""The layout stays one a newcomer can hold in their head (issue #11), and its map stays true.

- no module of the shipped layer over 500 lines, no function of the layer or of ``functions/`` over 80;
- every module of the layer and every handler has its line in ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "importer" / "intercom_importer"
FUNCTIONS = ROOT / "functions"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _defines(path: Path) -> bool:
    """A package's ``__init__`` that holds code (not only its docstring and re-exports)."""
    return any(isinstance(n, ast.FunctionDef | ast.ClassDef) for n in ast.parse(path.read_text(encoding="utf-8")).body)


def test_the_layer_and_handlers_are_found():
    assert len(_modules(PACKAGE)) > 60
    assert len(list(FUNCTIONS.glob("*/app.py"))) == 8


def test_no_layer_module_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules(PACKAGE)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules (at most {MAX_MODULE_LINES} lines each): {long}"


def test_no_function_over_80_lines():
    long = {}
    for path in _modules(PACKAGE) + _modules(FUNCTIONS):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = lines
    assert long == {}, f"split these functions (at most {MAX_FUNCTION_LINES} lines each): {long}"


def test_the_module_map_names_every_module_and_handler():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    wanted = [str(p.relative_to(PACKAGE)) for p in _modules(PACKAGE) if p.name != "__init__.py" or _defines(p)]
    wanted += [str(p.relative_to(FUNCTIONS)) for p in sorted(FUNCTIONS.glob("*/app.py"))]
    missing = [w for w in wanted if f"`{w}`" not in text]
    assert missing == [], f"docs/architecture.md has no line for: {missing}"
