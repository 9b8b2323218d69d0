"""Test videos: the generator `sharpr up --demo` uses, and drawn animation for the
repeated-frame skip (tests and bench/skip.py)."""

import struct
from pathlib import Path

import numpy as np

from services.demo_media import moving_pattern, write_clip

__all__ = ["drawn_on_twos", "huge_header", "moving_pattern", "write_clip"]


# 5x7 glyphs for the caption of the drawn animation.
GLYPHS = {
    "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"],
    "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
}


def drawn_on_twos(index: int, width: int, height: int) -> np.ndarray:
    """Cel animation drawn on twos: each picture is held for two frames, as in most anime.

    A sky gradient, an outlined ball bouncing across it, a sliding box and a caption that
    drifts, all moving from one picture to the next and still within a picture.
    """
    picture = index // 2
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([0.45 + 0.3 * y / height, 0.6 + 0.2 * y / height, np.full_like(x, 0.92)], -1)
    cx = (picture * 3) % width
    cy = height * (0.65 - 0.35 * abs(np.sin(picture * 0.25)))
    radius = 0.18 * min(width, height)
    distance = np.sqrt((y - cy) ** 2 + (x - cx) ** 2)
    img[distance < radius] = (0.95, 0.55, 0.2)
    img[np.abs(distance - radius) < 1.2] = 0.08  # the ink outline
    left = (width - picture * 2) % width
    box = (x >= left) & (x < left + width // 6) & (y >= height * 0.1) & (y < height * 0.3)
    img[box] = (0.3, 0.75, 0.4)
    for i, letter in enumerate("SHARPR"):
        glyph = np.array([[c == "1" for c in row] for row in GLYPHS[letter]])
        cell = np.kron(glyph, np.ones((2, 2), bool))
        top, start = height - 18, (4 + i * 12 + picture) % max(width - 10, 1)
        region = img[top : top + cell.shape[0], start : start + cell.shape[1]]
        region[cell[: region.shape[0], : region.shape[1]]] = 0.05
    return (img * 255).round().astype(np.uint8)


def huge_header(path: Path) -> bytes:
    """A tiny VP8 clip whose keyframe headers claim 16000x16000 (14-bit fields, §9.1 of RFC 6386)."""
    write_clip(path, seconds=1.0, audio=False)
    data = bytearray(path.read_bytes())
    start = data.find(b"\x9d\x01\x2a")
    while start != -1:
        data[start + 3:start + 7] = struct.pack("<HH", 16000, 16000)
        start = data.find(b"\x9d\x01\x2a", start + 3)
    return bytes(data)
