"""Deciding to follow: the live media playlist behind a URL yt-dlp found to be live.

A master playlist (ours to parse, `manifest_url`) gives the variant and the tier closest
to what the fleet keeps up with; without one (an extractor's list of formats, as for YouTube live)
yt-dlp's formats are chosen from the same way. The variant's playlist is loaded once here,
so a source that cannot be followed (encrypted, unreadable) is refused before the stream
is marked as following it.
"""

import logging

from redis import Redis

from services.core.capacity import fleet_capacity
from services.core.live_source import LiveSource
from services.core.schemas import Enhancement, Tier
from services.core.settings import Settings
from services.core.tiers import allowed_tiers
from services.ingest.extract import MediaSource
from services.ingest.fetch import Fetcher
from services.ingest.live_playlist import pick_live_format, pick_live_variant, read_window

log = logging.getLogger(__name__)


def fleet_tier_rates(redis: Redis, settings: Settings, enhancement: Enhancement) -> dict[Tier, float]:
    """Input pixels per second the live workers upscale at this scale per tier the stream
    may run at (the mode's figure, or the slowest mode's when the stream picks per clip);
    a tier not measured yet is left out."""
    tiers = allowed_tiers(enhancement)
    rates = [rate for rate in fleet_capacity(redis, settings.capacity_stale_seconds)
             if rate.scale == enhancement.scale and rate.tier in tiers]
    matching = [rate for rate in rates if rate.mode == enhancement.mode] or rates
    by_tier: dict[Tier, float] = {}
    for rate in matching:
        tier = Tier(rate.tier)
        by_tier[tier] = min(by_tier.get(tier, rate.input_pixels_per_second), rate.input_pixels_per_second)
    return by_tier


def find_live_source(
    fetcher: Fetcher, media: MediaSource, rates: dict[Tier, float], tiers: tuple[Tier, ...]
) -> LiveSource:
    """The media playlist to follow for the live `media` and the tier of `tiers` to run it
    at, its first load checked."""
    tier = tiers[-1]
    if media.manifest_url is not None:
        url, headers = media.manifest_url, media.headers
        text = fetcher.read_text(url, headers)
        variant = pick_live_variant(text, url, rates, tiers)
        if variant is not None:
            (url, tier), text = variant, fetcher.read_text(variant[0], headers)
    else:
        chosen, tier = pick_live_format(list(media.formats), rates, tiers) if media.formats else ({}, tier)
        url = chosen.get("url", media.url)
        headers = dict(chosen.get("http_headers") or media.headers)
        text = fetcher.read_text(url, headers)
    window = read_window(text, url)
    log.info("event=live_source_chosen url=%s tier=%s target=%d segments=%d rates=%s",
             url, tier, window.target, len(window.segments), rates)
    return LiveSource(playlist_url=url, headers=headers, target=window.target, tier=tier)
