"""The summary email's Jinja2 templates: every file loads, ships with the package and the layer, escapes
where it should, and a value the view lacks fails the render (what it renders: test_summary.py)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

import intercom_importer.summary
from email_preview.samples import SAMPLES
from intercom_importer.summary import TEMPLATES, template_for
from intercom_importer.summary.model import Counts, EmailView, build_view
from intercom_importer.summary.templating import environment, render
from local_runtime.stack import load_template

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(intercom_importer.summary.__file__).parent
TEMPLATE_DIR = PACKAGE / "templates"
TEMPLATE_FILES = sorted(p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATE_DIR.rglob("*") if p.is_file())


def view(name: str) -> EmailView:
    """The view of a preview sample's email."""
    sample: dict[str, Any] = {"failed_groups": (), "unfinished": (), **SAMPLES[name]}
    job = sample.pop("job")
    del sample["recipients"]
    return build_view(job, template=template_for(job, sample["status"]), **sample)


@pytest.mark.parametrize("name", TEMPLATE_FILES)
def test_every_template_file_loads_by_name(name: str):
    assert environment().get_template(name).name == name


def test_each_outcome_has_its_wording_file_and_no_other():
    outcomes = {name.removeprefix("outcomes/").removesuffix(".txt") for name in TEMPLATE_FILES if "/" in name}

    assert outcomes == set(TEMPLATES)


def test_package_data_globs_ship_every_template_file():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    globs = package_data["package-data"]["intercom_importer.summary"]

    shipped = {p.relative_to(TEMPLATE_DIR).as_posix() for pattern in globs for p in PACKAGE.glob(pattern)}

    assert shipped == set(TEMPLATE_FILES)


def test_templates_are_inside_the_layer_that_sam_builds():
    layer = load_template(ROOT / "template.yaml")["Resources"]["ImporterLayer"]
    content = (ROOT / layer["Properties"]["ContentUri"]).resolve()

    assert layer["Metadata"]["BuildMethod"].startswith("python3")  # copies the whole folder into python/
    assert TEMPLATE_DIR.resolve().is_relative_to(content)
    assert (content / "requirements.txt").read_text(encoding="utf-8").count("Jinja2==") == 1


@pytest.mark.parametrize(("name", "escapes"), [("email.html", True), ("email.txt", False), ("wording.txt", False)])
def test_html_templates_autoescape_and_text_templates_do_not(name: str, escapes: bool):
    autoescape = environment().autoescape

    assert callable(autoescape) and autoescape(name) is escapes


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_wording_shared_with_the_html_exports_values_not_macros(name: str):
    """A macro imported into the HTML has its output marked safe unescaped: the shared wording has none."""
    context = {"m": view(name)}

    for shared in ("wording.txt", f"outcomes/{name}.txt"):
        module = environment().get_template(shared).make_module(context)
        exported = {key: value for key, value in vars(module).items() if not key.startswith("_")}

        assert exported
        assert not [key for key, value in exported.items() if isinstance(value, jinja2.runtime.Macro)]


@pytest.mark.parametrize("template", ["subject.txt", "email.txt", "email.html"])
def test_a_value_missing_from_the_view_fails_the_render(template: str):
    full = view("completed_with_errors")
    without_partner = SimpleNamespace(**{f.name: getattr(full, f.name) for f in dataclasses.fields(full)})
    del without_partner.partner

    with pytest.raises(jinja2.UndefinedError, match="partner"):
        render(template, m=without_partner, subject="s")


def test_the_environment_is_built_on_first_use_not_at_import():
    code = (
        "from intercom_importer import report; from intercom_importer.summary import templating; "
        "assert templating.environment.cache_info().currsize == 0"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers/importer"), str(ROOT / "devtools")])}

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_each_preview_sample_accounts_for_every_row_of_its_file(name: str):
    """The samples add up as a real job does: every row in one count, but the rows of an incomplete import's
    unfinished chunks (which the email says are not counted)."""
    counts = Counts.from_job(SAMPLES[name]["job"])
    unfinished = sum(int(u.get("rows", 0)) for u in SAMPLES[name].get("unfinished", ()))

    assert counts.done + counts.errors + unfinished == counts.rows
    assert counts.uncounted == unfinished
