"""Render an email's HTML to PNG with headless Chromium, and read the PNG back (standard library only)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "chromium"
WIDTH, HEIGHT = 700, 1400
TIMEOUT_SECONDS = 60
# without the networking flags Chromium tries to reach Google services (and hangs on a closed network)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
)
ATTEMPTS = 3
"""Screenshots taken before one is whole (see :func:`screenshot`)."""


class ChromiumMissingError(RuntimeError):
    """Chromium is not installed (Debian: apt-get install chromium)."""


class RenderError(RuntimeError):
    """Chromium ran but produced no screenshot."""


def chromium_path() -> str:
    path = shutil.which(CHROMIUM)
    if path is None:
        raise ChromiumMissingError(
            "chromium is not installed: the email screenshot test needs it (Debian: apt-get install -y chromium; "
            ".ci/run installs it in CI). Set RENDER_TESTS=0 to skip this check locally."
        )
    return path


def screenshot(html_file: Path, png_file: Path, *, width: int = WIDTH, height: int = HEIGHT) -> Path:
    """Screenshot ``html_file`` (a local file) into ``png_file`` at ``width`` x ``height`` CSS pixels.

    On a loaded machine Chromium sometimes captures the window before its page reaches the full height: the
    bottom rows (129 of them, the height of the browser's hidden toolbar) are left unpainted, pure white, where
    the page's own background should be. Such a screenshot is taken again, up to ``ATTEMPTS`` times; the last one
    is kept whatever it shows, so a page that really is white at the bottom still gets its screenshot."""
    for _ in range(ATTEMPTS):
        _capture(html_file, png_file, width, height)
        if _whole(read_png(png_file)):
            break
    return png_file


def _capture(html_file: Path, png_file: Path, width: int, height: int) -> None:
    png_file.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium_path(),
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png_file}",
            html_file.resolve().as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)  # noqa: S603
    if not png_file.exists() or png_file.stat().st_size == 0:
        raise RenderError(f"chromium wrote no screenshot (exit {result.returncode}): {result.stderr[-2000:]}")


def _whole(image: Image) -> bool:
    """The page was painted down to the last row: its bottom-left corner (page margin) is the colour of its
    top-left corner, or that colour is white anyway."""
    top, bottom = image.pixel(0, 0), image.pixel(0, image.height - 1)
    return bottom == top or top == (255, 255, 255)


@dataclass
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGB, 3 bytes a pixel

    def row(self, y: int) -> list[tuple[int, int, int]]:
        data = self.rows[y]
        return list(zip(data[0::3], data[1::3], data[2::3], strict=True))

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        data = self.rows[y]
        return data[3 * x], data[3 * x + 1], data[3 * x + 2]

    def count(self, rgb: tuple[int, int, int], *, y_from: int = 0, y_to: int | None = None) -> int:
        """Pixels of exactly this colour in rows ``y_from`` to ``y_to``."""
        return sum(self.row(y).count(rgb) for y in range(y_from, self.height if y_to is None else y_to))

    def rows_with(self, rgb: tuple[int, int, int], min_pixels: int) -> list[int]:
        """The rows holding at least ``min_pixels`` pixels of this colour."""
        return [y for y in range(self.height) if self.row(y).count(rgb) >= min_pixels]


def read_png(path: Path) -> Image:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGB rows."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat = 8, bytearray()
    width = height = colour_type = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour_type not in (2, 6) or interlace:
                raise ValueError(f"unsupported PNG (depth {depth}, colour type {colour_type}, interlace {interlace})")
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(bytes(idat))
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, channels)
        rows.append(bytes(line) if channels == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        previous = line
    return Image(width, height, rows)


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    if kind == 2:  # "up", most rows of a screenshot: every byte plus the one above it, the whole row at once
        line[:] = _add_bytes(line, prev)
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = prev[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        else:
            raise ValueError(f"bad PNG filter {kind}")


def _add_bytes(a: bytes | bytearray, b: bytes | bytearray) -> bytes:
    """``(a[i] + b[i]) & 0xFF`` for every byte, as two integers: the low 7 bits of each byte are added (their sum
    cannot carry into the next byte) and its top bit is the XOR of both top bits and that sum's carry."""
    n = len(a)
    low, high = int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(n, "big")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
