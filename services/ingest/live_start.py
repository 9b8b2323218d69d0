"""Deciding to follow: the live media playlist behind a URL yt-dlp found to be live.

A master playlist (ours to parse, `manifest_url`) gives the variant closest to what the
fleet keeps up with; without one (an extractor's list of formats, as for YouTube live)
yt-dlp's formats are chosen from the same way. The variant's playlist is loaded once here,
so a source that cannot be followed (encrypted, unreadable) is refused before the stream
is marked as following it.
"""

import logging

from redis import Redis

from services.core.capacity import fleet_capacity
from services.core.live_source import LiveSource
from services.core.schemas import Enhancement
from services.core.settings import Settings
from services.ingest.extract import MediaSource
from services.ingest.fetch import Fetcher
from services.ingest.live_playlist import pick_live_format, pick_live_variant, read_window

log = logging.getLogger(__name__)


def fleet_pixels_per_second(redis: Redis, settings: Settings, enhancement: Enhancement) -> float | None:
    """Input pixels per second the live workers upscale at this scale (the mode's figure,
    or the slowest mode's when the stream picks per clip); None before any measured."""
    rates = [rate for rate in fleet_capacity(redis, settings.capacity_stale_seconds)
             if rate.scale == enhancement.scale]
    matching = [rate for rate in rates if rate.mode == enhancement.mode] or rates
    return min((rate.input_pixels_per_second for rate in matching), default=None)


def find_live_source(fetcher: Fetcher, media: MediaSource, pixels_per_second: float | None) -> LiveSource:
    """The media playlist to follow for the live `media`, its first load checked."""
    if media.manifest_url is not None:
        url, headers = media.manifest_url, media.headers
        text = fetcher.read_text(url, headers)
        variant = pick_live_variant(text, url, pixels_per_second)
        if variant is not None:
            url, text = variant, fetcher.read_text(variant, headers)
    else:
        chosen = pick_live_format(list(media.formats), pixels_per_second) if media.formats else {}
        url = chosen.get("url", media.url)
        headers = dict(chosen.get("http_headers") or media.headers)
        text = fetcher.read_text(url, headers)
    window = read_window(text, url)
    log.info("event=live_source_chosen url=%s target=%d segments=%d pixels_per_second=%s",
             url, window.target, len(window.segments), pixels_per_second)
    return LiveSource(playlist_url=url, headers=headers, target=window.target)
