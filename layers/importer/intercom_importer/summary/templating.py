"""The summary email's Jinja2 templates (``templates/``) and the one environment that renders them.

``.html`` templates autoescape; ``.txt`` ones do not: the plain-text email, its subject, and the wording
both emails share (``wording.txt``, ``outcomes/<template>.txt``), plain text that the HTML escapes where
it prints it. Values are escaped as ``html.escape`` does (``&quot;``, ``&#x27;``), as the email always
was. ``StrictUndefined``: a template naming a value the view lacks fails instead of printing nothing.

HTML templates are written one tag a line; the email itself is one line (no stray text nodes between
table cells): a line break and the indentation after it are dropped before Jinja reads an ``.html``
template, so a space that matters is written inside a line.
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any, NamedTuple

import jinja2
from jinja2.ext import Extension
from markupsafe import Markup

# The palette: it keeps its contrast when a client darkens it (white text on a saturated band, explicit
# colours on every cell). Each outcome's band and tint are in outcomes.TEMPLATES; the font stacks are in
# email.html.
INK = "#1f2328"  # body text
MUTED = "#59636e"  # secondary text (4.6:1 on white)
RULE = "#d1d9e0"
PAGE = "#f3f4f6"
PANEL = "#f6f8fa"
LINK_BUTTON = "#0969da"
BAD_NUMBER = "#cf222e"
PALETTE = {
    "ink": INK,
    "muted": MUTED,
    "rule": RULE,
    "page": PAGE,
    "panel": PANEL,
    "link_button": LINK_BUTTON,
    "bad_number": BAD_NUMBER,
}


class Step(NamedTuple):
    """One thing to do (``step(text, command)`` in an outcome's wording), with a command to run, if any."""

    text: str
    command: str = ""


def render(name: str, **context: Any) -> str:
    """Render the template ``name`` (a path under ``templates/``)."""
    return environment().get_template(name).render(**context)


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment, built on first use and kept for the container's life."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("intercom_importer.summary", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), disabled_extensions=("txt",), default=True),
        undefined=jinja2.StrictUndefined,
        finalize=_escape,
        extensions=[_OneLineHtml],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(num=_thousands, duration=duration, span=span)
    env.globals.update(palette=PALETTE, step=Step)
    return env


@jinja2.pass_eval_context
def _escape(eval_ctx: jinja2.nodes.EvalContext, value: Any) -> Any:
    """Every ``{{ value }}``: in an autoescaping template, escaped the way ``html.escape`` does it."""
    if eval_ctx.autoescape and not hasattr(value, "__html__"):
        return Markup(html.escape(str(value), quote=True))  # noqa: S704  # nosec B704 - escaped right here
    return value


class _OneLineHtml(Extension):
    """Drops each line break, and the indentation after it, from an ``.html`` template's source."""

    _BREAK = re.compile(r"\n[ \t]*")

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return self._BREAK.sub("", source) if name and name.endswith(".html") else source


def _thousands(value: int) -> str:
    return f"{value:,}"


def duration(seconds: float) -> str:
    """``under 1 s``, ``42 s``, ``3 min 5 s``, ``1 h 0 min``."""
    if 0 < seconds < 1:
        return "under 1 s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def span(seconds: int) -> str:
    """A link lifetime in words: ``7 days``, ``12 hours``, ``1 h 30 min``, ``45 minutes``."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 3600:
        return duration(seconds)
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
