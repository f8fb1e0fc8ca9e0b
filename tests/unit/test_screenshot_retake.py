"""The email screenshot is taken again when Chromium captured the window before its page reached full height
(devtools/email_preview/render.py), without Chromium: its captures are PNGs this test writes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from email_preview import render

pytestmark = pytest.mark.unit

GREY, WHITE = (0xF3, 0xF4, 0xF6), (255, 255, 255)


def png(rows: list[list[tuple[int, int, int]]]) -> bytes:
    """An 8-bit RGB PNG of these pixel rows (filter 0)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + bytes(v for pixel in row for v in pixel) for row in rows)
    header = struct.pack(">IIBBBBB", len(rows[0]), len(rows), 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


UNPAINTED = png([[GREY, GREY], [WHITE, WHITE]])  # the bottom rows left white: captured too early
WHOLE = png([[GREY, GREY], [GREY, GREY]])


def captures(monkeypatch: pytest.MonkeyPatch, shots: list[bytes]) -> list[bytes]:
    taken: list[bytes] = []

    def capture(html_file: Path, png_file: Path, width: int, height: int) -> None:
        shot = shots[min(len(taken), len(shots) - 1)]
        taken.append(shot)
        png_file.write_bytes(shot)

    monkeypatch.setattr(render, "_capture", capture)
    return taken


def test_a_screenshot_whose_bottom_was_not_painted_is_taken_again(monkeypatch, tmp_path):
    taken = captures(monkeypatch, [UNPAINTED, WHOLE])

    out = render.screenshot(tmp_path / "page.html", tmp_path / "page.png")

    assert taken == [UNPAINTED, WHOLE] and out.read_bytes() == WHOLE


def test_a_whole_screenshot_is_taken_once(monkeypatch, tmp_path):
    taken = captures(monkeypatch, [WHOLE])

    render.screenshot(tmp_path / "page.html", tmp_path / "page.png")

    assert taken == [WHOLE]


def test_a_page_that_stays_unpainted_keeps_its_last_screenshot_after_the_attempts(monkeypatch, tmp_path):
    taken = captures(monkeypatch, [UNPAINTED])

    out = render.screenshot(tmp_path / "page.html", tmp_path / "page.png")

    assert len(taken) == render.ATTEMPTS and out.read_bytes() == UNPAINTED


def test_a_white_page_is_whole():
    assert render._whole(render.Image(1, 2, [bytes(WHITE), bytes(WHITE)]))
