"""`sharpr upscale INPUT OUTPUT`: one local video through the model, with a progress bar.

The enhancements are a stream's (`Enhancement`), applied by the same upscaler the worker
builds. An OUTPUT directory receives lossless PNG frames instead of an MP4, for quality checks.
"""

import logging
import math
from pathlib import Path

from tqdm import tqdm

from services.core.schemas import Enhancement
from services.core.settings import get_settings
from services.worker.pipeline import transcode
from services.worker.upscaler import load_upscaler

log = logging.getLogger(__name__)


def upscale_file(input: Path, output: Path, enhancement: Enhancement, backend: str | None) -> None:
    # A local file is the user's own: no clip length limit, only the frame size one.
    overrides: dict[str, object] = {"clip_max_seconds": math.inf}
    if backend is not None:
        overrides["backend"] = backend
    settings = get_settings().model_copy(update=overrides)
    # No silent resize here: a model that cannot load should fail a quality check loudly.
    upscaler = load_upscaler(enhancement, settings)
    with tqdm(unit="frame", desc=f"{input.name} x{enhancement.scale} {upscaler.name}") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = transcode(input, output, upscaler, settings, advance)
    log.info(
        "event=upscaled input=%s output=%s frames=%d size=%dx%d wall=%.2f model=%.2f",
        input, output, result.frames, result.width, result.height,
        result.timings["wall"], result.timings["model"],
    )
