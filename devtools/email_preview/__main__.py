"""python -m email_preview OUT_DIR: write <template>.html and <template>.png for every sample."""

from __future__ import annotations

import sys
from pathlib import Path

from email_preview.render import screenshot
from email_preview.samples import SAMPLES
from intercom_importer.summary import render_email


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m email_preview OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, sample in SAMPLES.items():
        email = render_email(**sample)
        html = out / f"{name}.html"
        html.write_text(email["html"], encoding="utf-8")
        print(screenshot(html, out / f"{name}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
