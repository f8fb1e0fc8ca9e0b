"""python -m email_preview OUT_DIR: write <template>.html and <template>.png for every sample."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from email_preview.render import screenshot
from email_preview.samples import SAMPLES
from intercom_importer.summary import render_email

RENDERS_AT_ONCE = 4  # Chromium processes at once (as tests/render renders them)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m email_preview OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)

    def preview(name: str) -> Path:
        email = render_email(**SAMPLES[name])
        html = out / f"{name}.html"
        html.write_text(email["html"], encoding="utf-8")
        return screenshot(html, out / f"{name}.png")

    with ThreadPoolExecutor(max_workers=RENDERS_AT_ONCE) as pool:  # Chromium processes overlap
        for png in pool.map(preview, SAMPLES):
            print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
