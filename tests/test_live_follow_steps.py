"""Following a live HLS source one follower run at a time, in this process: stop, a 404
segment, falling behind, refusals, the variant closest to capacity, the lease and resume,
fMP4 segments, and a YouTube-like list of formats.

The source is the real live origin of `tests/live_hls_server.py`, its clock held still
(a tiny `speed`: the next segment is minutes away) and moved by `publish`, so what each
run sees is what the test published. The API, the ingest job, the follower, the worker
and the packager run in this process against the real Redis and S3; what is asserted is
what a user sees: the status JSON and the playlists in the bucket.
"""

import io
import threading
import time
from pathlib import Path

import av
import m3u8
import pytest
from redis import Redis

from services.core import keys, live_source
from services.core.capacity import record_throughput
from services.core.live_source import (
    LeaseLost,
    check_lease,
    live_lease,
    load_live_source,
    save_live_source,
)
from services.core.schemas import Enhancement, Tier
from services.core.settings import Settings, get_settings
from services.core.tiers import allowed_tiers
from services.ingest import live_follow
from services.ingest.extract import MediaSource
from services.ingest.fetch import Fetcher
from services.ingest.live_follow import follow_live
from services.ingest.live_start import find_live_source, fleet_tier_rates
from tests.api_client import auth
from tests.conftest import run_queues
from tests.live_hls_server import (
    LiveSite,
    SourceSegment,
    Variant,
    cut_segments,
    live_hls,
    write_live_clip,
)
from tests.remote_site import serving
from tests.stream_checks import object_bytes

WIDTH, HEIGHT, FPS, SEGMENT, SEGMENTS = 64, 36, 10, 1.0, 6
# The origin's clock runs this fast: a segment every 100 s, so none appears unless published.
FROZEN = 0.01
# What the first follower run takes when three segments are listed (RFC 8216 §6.3.3: it
# starts three target durations of 1 s from the end, so at the first one).
PREROLL = 3
SMALL = Variant(width=32, height=18, bandwidth=50_000)
LARGE = Variant(width=1280, height=720, bandwidth=3_000_000)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live-steps") / "clip.mp4"
    write_live_clip(path, seconds=SEGMENT * SEGMENTS, width=WIDTH, height=HEIGHT, fps=FPS,
                    segment_seconds=SEGMENT)
    return path


@pytest.fixture(scope="module")
def ts_folder(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[SourceSegment], Path]:
    folder = tmp_path_factory.mktemp("ts")
    return cut_segments(clip, folder, segment_seconds=SEGMENT), folder


@pytest.fixture
def live_allowed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Ingest may fetch from 127.0.0.1 (set before the API starts); a test's pauses
    between runs are no stall."""
    monkeypatch.setenv("SHARPR_INGEST_ALLOW_HOSTS", '["127.0.0.1"]')
    monkeypatch.setenv("SHARPR_LIVE_STALL_TARGET_DURATIONS", "600")
    get_settings.cache_clear()
    return get_settings()


def follow(api, redis: Redis, url: str) -> dict:
    """`POST /v1/videos`, then the ingest job and the follower's first run."""
    accepted = api.post("/v1/videos", json={"url": url, "mode": "anime"})
    assert accepted.status_code == 202, accepted.text
    run_queues(redis, "ingest")
    return accepted.json()


def status(api, video: dict) -> dict:
    return api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()


def playlist(settings: Settings, key: str) -> m3u8.M3U8:
    return m3u8.loads(object_bytes(settings, key).decode())


def original(settings: Settings, video: dict) -> m3u8.M3U8:
    return playlist(settings, keys.original_playlist_key(video["id"]))


def enhanced(settings: Settings, video: dict) -> m3u8.M3U8:
    return playlist(settings, keys.playlist_key(video["id"]))


def fetched(site: LiveSite) -> list[str]:
    """Source segments requested, in order."""
    return [path.lstrip("/") for _, path in site.requests if path.endswith((".ts", ".m4s"))]


def jumps(listed: m3u8.M3U8) -> list[int]:
    """Indexes of the segments with `#EXT-X-DISCONTINUITY` before them."""
    return [index for index, segment in enumerate(listed.segments) if segment.discontinuity]


def frames_in(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_stop_closes_the_original_takes_nothing_more_and_ends_the_stream(live_allowed, api, redis, ts_folder):
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        assert status(api, video)["live"]["following"] is True
        stopped = api.post(f"/v1/streams/{video['id']}/stop", headers=auth(video["token"]))
        assert stopped.status_code == 202 and stopped.json()["state"] == "ending"

        site.publish(5)
        follow_live(video["id"])

    assert fetched(site) == [s.name for s in segments[:PREROLL]]
    listed = original(live_allowed, video)
    assert listed.is_endlist and len(listed.segments) == PREROLL
    live = status(api, video)["live"]
    assert live["following"] is False and live["segments_taken"] == PREROLL

    run_queues(redis, "upscale", "package")
    final = status(api, video)
    assert final["state"] == "ended" and final["error"] is None, final
    assert [clip["state"] for clip in final["clips"]] == ["packaged"] * PREROLL
    played = enhanced(live_allowed, video)
    assert played.is_endlist and len(played.segments) == PREROLL


def test_segment_that_404s_is_skipped_and_marked_as_a_jump(live_allowed, api, redis, ts_folder):
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, missing=frozenset({1}), speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        first = status(api, video)
        site.publish(SEGMENTS)
        follow_live(video["id"])  # the rest, then the source's ENDLIST ends the stream

    assert first["live"]["segments_missing"] == 1 and first["live"]["segments_taken"] == 2
    assert [clip["discontinuity"] for clip in first["clips"]] == [False, True]
    live = status(api, video)["live"]
    assert (live["segments_taken"], live["segments_missing"], live["following"]) == (SEGMENTS - 1, 1, False)
    kept = original(live_allowed, video)
    assert kept.is_endlist and len(kept.segments) == SEGMENTS - 1 and jumps(kept) == [1]

    run_queues(redis, "upscale", "package")
    final = status(api, video)
    assert final["state"] == "ended" and final["error"] is None, final
    played = enhanced(live_allowed, video)
    assert played.is_endlist and len(played.segments) == SEGMENTS - 1 and jumps(played) == [1]


def test_falling_behind_skips_to_the_live_edge_and_marks_the_jump(
    live_allowed, api, redis, ts_folder, monkeypatch
):
    monkeypatch.setenv("SHARPR_LIVE_MAX_DELAY_SECONDS", "0.3")
    get_settings.cache_clear()
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        time.sleep(0.4)  # nothing upscaled: the oldest clip now waits longer than allowed
        site.publish(5)
        follow_live(video["id"])
        behind = status(api, video)

        run_queues(redis, "upscale", "package")  # the backlog clears
        site.publish(SEGMENTS)
        follow_live(video["id"])

    assert behind["live"]["skipped_seconds"] == pytest.approx(2 * SEGMENT, abs=0.01)
    assert behind["live"]["segments_taken"] == PREROLL and len(behind["clips"]) == PREROLL
    assert fetched(site) == [s.name for s in segments[:PREROLL]] + [segments[5].name]
    final_status = status(api, video)
    assert [clip["discontinuity"] for clip in final_status["clips"]] == [False] * PREROLL + [True]
    assert jumps(original(live_allowed, video)) == [PREROLL]

    run_queues(redis, "upscale", "package")
    assert status(api, video)["state"] == "ended"
    played = enhanced(live_allowed, video)
    assert played.is_endlist and len(played.segments) == PREROLL + 1 and jumps(played) == [PREROLL]


ENCRYPTED = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=AES-128,URI="key"\n#EXTINF:2,\na.ts\n'
LIVE_MEDIA = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n"
AUDIO_APART = (
    '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio.m3u8"\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=64x36,CODECS="avc1.64000a,mp4a.40.2",AUDIO="aud"\n'
    "video.m3u8\n"
)


@pytest.mark.parametrize(("files", "code"), [
    ({"index.m3u8": ENCRYPTED}, "source_encrypted"),
    ({"index.m3u8": AUDIO_APART, "video.m3u8": LIVE_MEDIA, "audio.m3u8": LIVE_MEDIA},
     "source_audio_separate"),
], ids=["encrypted", "audio_apart"])
def test_live_sources_that_cannot_be_followed_fail_the_stream_with_a_code(
    live_allowed, api, redis, tmp_path, files, code
):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with serving(tmp_path) as site:
        video = follow(api, redis, f"{site.url}/index.m3u8")

    final = status(api, video)
    assert final["state"] == "failed" and final["error"].startswith(f"{code}: "), final
    assert final["live"] is None
    assert not any(path.endswith(".ts") for path in site.requests)


@pytest.mark.parametrize(("pixels_per_second", "chosen", "tier"), [
    (20_000, SMALL, "fast"),  # 64x36 at 30 fps does not fit; the smallest at the fastest tier
    (1e9, LARGE, "quality"),
], ids=["small_fleet", "large_fleet"])
def test_master_playlist_is_followed_at_the_variant_and_tier_the_fleet_keeps_up_with(
    live_allowed, api, redis, ts_folder, pixels_per_second, chosen, tier
):
    record_throughput(redis, "upscale-test-worker", "anime", "quality", 2, pixels_per_second, 1.0)
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN, extra_variants=[SMALL, LARGE]) as site:
        video = follow(api, redis, site.master_url)

    paths = [path for _, path in site.requests]
    last_master = max(i for i, path in enumerate(paths) if path == "/master.m3u8")
    # after the master's last load (yt-dlp's and the choice), only the chosen one is read
    assert {p for p in paths[last_master + 1:] if p.endswith(".m3u8")} == {f"/{chosen.uri}"}
    followed = status(api, video)
    live = followed["live"]
    assert live["following"] is True and live["segments_taken"] == PREROLL
    assert [clip["tier"] for clip in followed["clips"]] == [tier] * PREROLL  # every clip at the tier


def test_follower_waits_for_the_lease_and_resumes_where_the_last_run_stopped(
    live_allowed, api, redis, ts_folder
):
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        assert load_live_source(redis, video["id"]).next_msn == PREROLL
        site.publish(5)
        with live_lease(redis, video["id"]) as held:
            assert held
            follow_live(video["id"])
            during = status(api, video)["live"]["segments_taken"]
            fetched_during = fetched(site)
        follow_live(video["id"])
        assert load_live_source(redis, video["id"]).next_msn == 5
        site.publish(SEGMENTS)
        follow_live(video["id"])

    assert during == PREROLL and fetched_during == [s.name for s in segments[:PREROLL]]
    assert fetched(site) == [s.name for s in segments]  # each once, in order
    final = status(api, video)
    assert final["state"] == "ending" and final["live"]["segments_taken"] == SEGMENTS
    assert [clip["seq"] for clip in final["clips"]] == list(range(SEGMENTS))
    assert len(original(live_allowed, video).segments) == SEGMENTS


def test_a_run_longer_than_the_lease_keeps_it_and_no_second_run_takes_the_same_segments(
    live_allowed, api, redis, ts_folder, monkeypatch
):
    """A run held up past LEASE_SECONDS (a slow segment) renews its lease: a run started
    meanwhile leaves the work to it. Unrenewed, the lease expired and the second run fetched
    and appended the held segments too."""
    monkeypatch.setattr(live_source, "LEASE_SECONDS", 1)
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN, hold=PREROLL) as site:
        video = follow(api, redis, site.url)
        site.publish(5)
        slow = threading.Thread(target=follow_live, args=(video["id"],))
        slow.start()
        assert site.holding.wait(10)
        time.sleep(2.5)  # two and a half lease lengths
        follow_live(video["id"])
        site.released.set()
        slow.join(30)

    assert fetched(site) == [s.name for s in segments[:5]]  # each once
    assert load_live_source(redis, video["id"]).next_msn == 5
    assert [s.uri for s in original(live_allowed, video).segments] == [
        keys.ORIGINAL_SEGMENT_FOLDER + keys.segment_name(seq, 0) for seq in range(5)
    ]


def test_a_run_that_lost_its_lease_writes_nothing(live_allowed, api, redis, ts_folder):
    """Fenced writes: once another run holds the lease, this one's save and its original
    playlist write refuse, so the source is moved on by one run only."""
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
    before = load_live_source(redis, video["id"])
    with live_lease(redis, video["id"]) as lease:
        redis.set(keys.redis_live_lease(video["id"]), "another-run")  # lost, then taken
        moved = before.model_copy(update={"next_msn": 99})
        with pytest.raises(LeaseLost):
            save_live_source(redis, video["id"], moved, 60, lease)
        with pytest.raises(LeaseLost):
            check_lease(lease, video["id"])
    assert load_live_source(redis, video["id"]) == before
    assert redis.get(keys.redis_live_lease(video["id"])) == b"another-run"  # not released by the loser


def test_a_run_takes_a_bounded_number_of_segments_and_the_next_run_the_rest(
    live_allowed, api, redis, ts_folder, monkeypatch
):
    """A playlist listing thousands of tiny segments made thousands of clips in one run."""
    monkeypatch.setattr(live_follow, "SEGMENTS_PER_RUN", 2)
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        taken = [status(api, video)["live"]["segments_taken"]]
        site.publish(SEGMENTS)
        for _ in range(2):
            follow_live(video["id"])
            taken.append(status(api, video)["live"]["segments_taken"])

    assert taken == [2, 4, 6]  # the first run stops at 2 of the 3 listed
    assert fetched(site) == [s.name for s in segments]  # each once, in order


def test_a_followed_source_stops_at_the_clip_limit_with_a_code(live_allowed, api, redis, ts_folder, monkeypatch):
    """The API refused clips past SHARPR_MAX_CLIPS_PER_STREAM, but a follower registered
    every segment it was given, past the cap; `register_clip` now refuses for everyone."""
    monkeypatch.setenv("SHARPR_MAX_CLIPS_PER_STREAM", "4")
    get_settings.cache_clear()
    segments, folder = ts_folder
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        site.publish(SEGMENTS)
        follow_live(video["id"])

    final = status(api, video)
    assert final["state"] == "failed" and final["error"].startswith("too_many_clips:"), final
    assert [clip["seq"] for clip in final["clips"]] == [0, 1, 2, 3]


def test_fmp4_source_is_taken_segment_by_segment(live_allowed, api, redis, clip, tmp_path):
    folder = tmp_path / "fmp4"
    segments = cut_segments(clip, folder, segment_seconds=SEGMENT, fmp4=True)
    with live_hls(segments, folder, preroll=PREROLL, fmp4=True, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        site.publish(SEGMENTS)
        follow_live(video["id"])

    assert fetched(site) == [s.name for s in segments]
    final = status(api, video)
    assert final["state"] == "ending" and final["live"]["segments_taken"] == SEGMENTS
    assert [clip["state"] for clip in final["clips"]] == ["queued"] * SEGMENTS
    listed = original(live_allowed, video)
    assert listed.is_endlist
    prefix = keys.hls_prefix(video["id"])
    taken = [frames_in(object_bytes(live_allowed, prefix + s.uri)) for s in listed.segments]
    assert taken == [s.frames for s in segments]
    inputs = [keys.input_key(video["id"], seq, "mp4") for seq in range(SEGMENTS)]
    clips = [frames_in(object_bytes(live_allowed, key)) for key in inputs]
    assert clips == [s.frames for s in segments]
    assert sum(s.duration for s in listed.segments) == pytest.approx(SEGMENT * SEGMENTS, abs=1 / FPS)


def youtube_format(site: LiveSite, variant: Variant, acodec: str = "mp4a.40.2") -> dict:
    """One entry of yt-dlp's `formats` for a live video, as YouTube's extractor gives it."""
    return {
        "format_id": str(variant.height), "url": site.url.replace("live.m3u8", variant.uri),
        "manifest_url": site.master_url, "protocol": "m3u8_native", "ext": "mp4",
        "width": variant.width, "height": variant.height, "fps": 30.0, "tbr": variant.bandwidth / 1000,
        "vcodec": "avc1.4d401e", "acodec": acodec, "http_headers": {"User-Agent": "yt-test"},
    }


@pytest.mark.parametrize(("pixels_per_second", "chosen"), [
    (20_000, SMALL), (1e9, LARGE),
], ids=["small_fleet", "large_fleet"])
def test_youtube_like_live_follows_the_format_closest_to_capacity(
    live_allowed, redis, ts_folder, pixels_per_second, chosen
):
    record_throughput(redis, "upscale-test-worker", "anime", "quality", 2, pixels_per_second, 1.0)
    rates = fleet_tier_rates(redis, live_allowed, Enhancement())
    segments, folder = ts_folder
    video_only = Variant(width=3840, height=2160, bandwidth=20_000_000)
    variants = [SMALL, LARGE, video_only]
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN, extra_variants=variants) as site:
        formats = (
            youtube_format(site, SMALL), youtube_format(site, LARGE),
            youtube_format(site, video_only, acodec="none"),  # the best picture, but silent
            {**youtube_format(site, LARGE), "protocol": "https", "width": 1920, "height": 1080},  # DASH
        )
        media = MediaSource(url=formats[0]["url"], headers={}, duration=None, hls=True, live=True,
                            formats=formats)
        with Fetcher(live_allowed) as fetcher:
            source = find_live_source(fetcher, media, rates, allowed_tiers(Enhancement()))

    assert rates == {Tier.quality: pixels_per_second}
    assert source.playlist_url == site.url.replace("live.m3u8", chosen.uri)
    assert source.headers == {"User-Agent": "yt-test"} and source.target == 1
    assert [path for _, path in site.requests] == [f"/{chosen.uri}"]


def test_source_followed_past_the_longest_time_ends_with_a_code_keeping_what_it_had(
    live_allowed, api, redis, ts_folder, monkeypatch
):
    segments, folder = ts_folder
    monkeypatch.setenv("SHARPR_LIVE_MAX_SECONDS", "0.5")
    get_settings.cache_clear()
    with live_hls(segments, folder, preroll=PREROLL, speed=FROZEN) as site:
        video = follow(api, redis, site.url)
        time.sleep(0.6)
        site.publish(5)
        follow_live(video["id"])

    assert fetched(site) == [s.name for s in segments[:PREROLL]]
    run_queues(redis, "upscale", "package")
    final = status(api, video)
    assert final["state"] == "ended" and final["error"].startswith("live_too_long:"), final
    assert original(live_allowed, video).is_endlist
    played = enhanced(live_allowed, video)
    assert played.is_endlist and len(played.segments) == PREROLL
