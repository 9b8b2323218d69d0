"""Only `frame_length`, re-exported for `splitter` until it uses `services.media` itself;
the segmenting moved to `services.media.segments`. Delete with that change."""

from services.media.probe import frame_length

__all__ = ["frame_length"]
