"""Frame sizes: the capture ladder, the fit of a frame under the pixel limit, and a
stream's fixed output size. Pure functions, shared by the API (which announces sizes) and
the worker (which decodes and encodes at them), so the two compute the same numbers.
"""

import math

# Capture heights a client may choose from (width follows the video's aspect ratio): a
# fixed set, so a GPU engine's shape range covers every one of them.
LADDER = (144, 240, 360, 480, 720, 1080)
# Captures up to this are scaled down to the clip pixel limit; larger ones are refused.
LARGEST_CAPTURE = (3840, 2160)


def even(value: float) -> int:
    """Rounded down to an even number, at least 2 (4:2:0 video needs even sides)."""
    return max(2, int(value) // 2 * 2)


def fit_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """`width` x `height`, or the largest even size of the same aspect at most `max_pixels`."""
    if width * height <= max_pixels:
        return width, height
    factor = math.sqrt(max_pixels / (width * height))
    return even(width * factor), even(height * factor)


def within_capture_limit(width: int, height: int) -> bool:
    """At most 3840x2160 pixels, either way up (a portrait video is as large turned)."""
    return width * height <= LARGEST_CAPTURE[0] * LARGEST_CAPTURE[1]


def output_size(width: int, height: int, scale: int, max_pixels: int) -> tuple[int, int]:
    """What the worker writes for frames captured at `width` x `height`: the size the model
    sees (fitted under the limit) times the scale, with even sides as the encoder needs."""
    fitted_width, fitted_height = fit_within(width, height, max_pixels)
    return even(fitted_width * scale), even(fitted_height * scale)
