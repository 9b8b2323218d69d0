"""Which clips the worker takes: a real video, within the frame size, length and frame rate
limits, and how it is to be decoded (fitted under the pixel limit, turned upright).

The header may lie, so every limit is checked against what demuxing the packets found.
"""

import logging
from pathlib import Path

import av

from services.core.errors import BadMedia, media_error
from services.core.framesize import fit_within, within_capture_limit
from services.core.settings import Settings
from services.media.probe import VideoProbe, probe, upright_turns
from services.media.reader import ClipInfo

log = logging.getLogger(__name__)


def probe_clip(path: Path, settings: Settings) -> ClipInfo:
    """Check that `path` is a video the worker may process and count its frames."""
    try:
        found = probe(path, max_frames=clip_max_frames(settings))
    except av.error.FFmpegError as error:
        raise media_error("the clip is not a readable video", error) from error
    if found is None:
        raise BadMedia("the clip has no video stream")
    if found.still_image:
        raise BadMedia(f"the clip is a still image ({found.demuxer}), not a video")
    if not within_capture_limit(found.width, found.height):
        raise BadMedia(
            f"frame size {found.width}x{found.height} is over the limit of 3840x2160 pixels"
        )
    if found.frames == 0:
        raise BadMedia("the clip has no video frames")
    _check_length(found, settings)
    # A larger capture (a big screen) is enhanced at the limit's size, not refused: the
    # decoder scales it down, which costs far less than the model at full size.
    fitted = fit_within(found.width, found.height, settings.clip_max_pixels)
    if fitted != (found.width, found.height):
        log.info(
            "event=clip_scaled_down input=%s size=%dx%d to=%dx%d",
            path.name,
            found.width,
            found.height,
            *fitted,
        )
    return ClipInfo(
        *fitted,
        found.frames,
        float(found.first or 0),
        found.has_audio,
        float(found.frame_duration),
        upright_turns(path),
        found.width * found.height,
    )


def clip_max_frames(settings: Settings) -> float:
    """Frames the length and rate limits allow together (infinite for `sharpr upscale` of a
    whole file, which has no length limit)."""
    return settings.clip_max_seconds * settings.clip_max_fps


def _check_length(found: VideoProbe, settings: Settings) -> None:
    """Refuse clips longer than the limit, faster than the fps limit, or with more frames
    than both allow together (the probe stopped there; the rate over the frames it saw
    is checked first, so the budget is left for clips whose packets carry no timestamps)."""
    span = float(found.span)
    if span > settings.clip_max_seconds:
        raise BadMedia(
            f"the clip lasts {span:.1f} s, over the limit of {settings.clip_max_seconds:g} s",
            code="clip_too_long",
        )
    if found.faster_than(settings.clip_max_fps):
        raise BadMedia(
            f"the clip runs at {found.frame_rate:.0f} frames per second, over the limit of "
            f"{settings.clip_max_fps:g}",
            code="frame_rate_too_high",
        )
    if found.over_budget:
        raise BadMedia(
            f"the clip has more than {clip_max_frames(settings):.0f} frames, the limit "
            f"({settings.clip_max_fps:g} fps for {settings.clip_max_seconds:g} s)",
            code="too_many_frames",
        )
