"""Generated training pictures: cel-shaded shapes with ink outlines, line art, text, gradients
and grass- or hatch-like texture, the material animation is made of. Deterministic per seed,
so a retraining sees the same pictures."""

import string

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Drawn at twice the size and halved, so edges are antialiased as a renderer's are.
SUPERSAMPLE = 2


def cartoon(seed: int, size: int = 256) -> np.ndarray:
    """One (size, size, 3) uint8 picture."""
    rng = np.random.default_rng(seed)
    big = size * SUPERSAMPLE
    image = Image.fromarray(_sky(rng, big))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.6:
        _grass(draw, rng, big, top=int(big * rng.uniform(0.4, 0.8)))
    for _ in range(int(rng.integers(3, 9))):
        _shape(draw, rng, big)
    for _ in range(int(rng.integers(0, 4))):
        _line_art(draw, rng, big)
    if rng.random() < 0.5:
        _text(draw, rng, big)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 2.0))))
    return np.asarray(image.resize((size, size), Image.Resampling.BOX))


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(low, high, 3))
    return r, g, b


def _sky(rng: np.random.Generator, size: int) -> np.ndarray:
    """A vertical gradient between two colours, or a flat fill."""
    top, bottom = np.array(_colour(rng)), np.array(_colour(rng))
    if rng.random() < 0.3:
        bottom = top
    t = np.linspace(0, 1, size)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (size, size, 3)).astype(np.uint8)


def _grass(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int, top: int) -> None:
    """A field of short strokes in shades of one hue over its base colour."""
    base = np.array(_colour(rng, 20, 200))
    draw.rectangle([0, top, size, size], fill=tuple(int(v) for v in base))
    count = int(rng.integers(400, 2500))
    xs = rng.integers(0, size, count)
    ys = rng.integers(top, size, count)
    lengths = rng.integers(4, 28, count)
    angles = rng.normal(-np.pi / 2, 0.35, count)
    shades = np.clip(base + rng.normal(0, 35, (count, 3)), 0, 255).astype(int)
    width = int(rng.integers(1, 4))
    for x, y, length, angle, shade in zip(xs, ys, lengths, angles, shades, strict=True):
        end = (x + length * np.cos(angle), y + length * np.sin(angle))
        draw.line([(int(x), int(y)), (int(end[0]), int(end[1]))], fill=tuple(shade), width=width)


def _shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """A flat shape with a darker shadow inside and an ink outline of random weight."""
    cx, cy = rng.uniform(0, size, 2)
    rx, ry = rng.uniform(0.04, 0.3, 2) * size
    fill = _colour(rng)
    outline = _colour(rng, 0, 60)
    width = int(rng.integers(0, 9))
    box = [cx - rx, cy - ry, cx + rx, cy + ry]
    kind = rng.integers(0, 3)
    if kind == 0:
        draw.ellipse(box, fill=fill, outline=outline, width=width)
        shadow = tuple(int(v * 0.7) for v in fill)
        draw.chord(box, 20, 160, fill=shadow)
    elif kind == 1:
        corners = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        points = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]
        draw.polygon(points, fill=fill, outline=outline, width=max(width, 1))
    else:
        draw.rounded_rectangle(box, radius=float(min(rx, ry) * rng.uniform(0, 0.5)), fill=fill,
                               outline=outline, width=width)  # fmt: skip


def _line_art(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """A wandering ink stroke, or a patch of parallel hatching."""
    colour = _colour(rng, 0, 80)
    if rng.random() < 0.5:
        steps = rng.normal(0, size * 0.05, (int(rng.integers(4, 20)), 2)).cumsum(axis=0)
        points = [tuple(p) for p in steps + rng.uniform(0, size, 2)]
        draw.line(points, fill=colour, width=int(rng.integers(1, 7)), joint="curve")
        return
    x, y = rng.uniform(0, size * 0.8, 2)
    gap, length = rng.uniform(3, 12), rng.uniform(20, size * 0.3)
    for k in range(int(rng.integers(4, 16))):
        draw.line([(x + k * gap, y), (x + k * gap + length * 0.3, y + length)], fill=colour,
                  width=int(rng.integers(1, 3)))  # fmt: skip


def _text(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """A few words, as titles, subtitles and signs are."""
    font = ImageFont.load_default(size=float(rng.uniform(12, 80)))
    letters = string.ascii_letters + string.digits + "  .,!?"
    words = "".join(rng.choice(list(letters), int(rng.integers(3, 24))))
    xy = (float(rng.uniform(0, size * 0.6)), float(rng.uniform(0, size * 0.9)))
    stroke = int(rng.integers(0, 5))
    draw.text(xy, words, font=font, fill=_colour(rng), stroke_width=stroke,
              stroke_fill=_colour(rng, 0, 60))  # fmt: skip
