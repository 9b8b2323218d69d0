"""Live HLS playlists, read as pure text: the window, where to start (RFC 8216 §6.3.3), what
is new after a reload, when to reload (§6.3.4), and which variant or yt-dlp format to follow."""

import pytest

from services.core.errors import SharprError
from services.core.schemas import Tier
from services.ingest.hls_source import Part
from services.ingest.live_playlist import (
    LiveWindow,
    Rendition,
    closest_to_capacity,
    new_segments,
    pick_live_format,
    pick_live_variant,
    read_window,
    reload_delay,
    start_msn,
)

URL = "http://example.com/live/index.m3u8"
HERE = "http://example.com/live/"


def live(*segments: str, sequence: int = 0, target: int = 2, tail: str = "") -> str:
    """A live media playlist of 2-s segments, each given as its tag lines (if any) and URI."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", f"#EXT-X-TARGETDURATION:{target}",
             f"#EXT-X-MEDIA-SEQUENCE:{sequence}"]
    for segment in segments:
        *tags, uri = segment.split("\n")
        lines += [*tags, "#EXTINF:2.000,", uri]
    return "\n".join([*lines, tail])


def timed(durations: list[float], target: int, sequence: int = 50) -> LiveWindow:
    """A live window of segments `{msn}.ts` lasting `durations`."""
    lines = [f"#EXTINF:{seconds},\n{sequence + n}.ts" for n, seconds in enumerate(durations)]
    text = f"#EXTM3U\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{sequence}\n"
    return read_window(text + "\n".join(lines), URL)


def test_ts_window_numbers_its_segments_from_the_media_sequence():
    window = read_window(live("a.ts", "sub/b.ts", "http://cdn.example.net/c.ts", sequence=100), URL)

    assert (window.media_sequence, window.target, window.ended) == (100, 2, False)
    assert window.next_msn == 103
    assert [segment.msn for segment in window.segments] == [100, 101, 102]
    assert [segment.part for segment in window.segments] == [
        Part(HERE + "a.ts"), Part(HERE + "sub/b.ts"), Part("http://cdn.example.net/c.ts")]
    assert all(s.init is None and s.duration == 2.0 and not s.discontinuity for s in window.segments)


def test_fmp4_segments_carry_their_map_which_may_change_at_a_discontinuity():
    text = live('#EXT-X-MAP:URI="a.mp4"\n0.m4s', "1.m4s",
                '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="b.mp4"\n2.m4s')
    window = read_window(text, URL)

    assert [segment.init for segment in window.segments] == [
        Part(HERE + "a.mp4"), Part(HERE + "a.mp4"), Part(HERE + "b.mp4")]
    assert [segment.discontinuity for segment in window.segments] == [False, False, True]


def test_byte_ranges_without_an_offset_follow_the_previous_segment_of_their_resource():
    text = live('#EXT-X-MAP:URI="all.mp4",BYTERANGE="700"\n#EXT-X-BYTERANGE:1000@700\nall.mp4',
                "#EXT-X-BYTERANGE:500\nall.mp4", "#EXT-X-BYTERANGE:300@0\nother.ts")
    window = read_window(text, URL)

    assert [segment.part for segment in window.segments] == [
        Part(HERE + "all.mp4", (700, 1000)), Part(HERE + "all.mp4", (1700, 500)),
        Part(HERE + "other.ts", (0, 300))]
    assert window.segments[0].init == Part(HERE + "all.mp4", (0, 700))


def test_low_latency_parts_are_ignored_for_whole_segments():
    text = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-VERSION:9
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:9
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.0,
9.m4s
#EXT-X-PART:DURATION=0.5,URI="10.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="10.1.m4s"
#EXTINF:1.0,
10.m4s
#EXT-X-DISCONTINUITY
#EXT-X-PART:DURATION=0.5,URI="11.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="11.1.m4s"
"""
    window = read_window(text, URL)

    assert [segment.part for segment in window.segments] == [Part(HERE + "9.m4s"), Part(HERE + "10.m4s")]
    assert window.next_msn == 11  # the segment whose parts are coming is not listed yet
    assert not any(segment.discontinuity for segment in window.segments)


def test_an_empty_window_of_a_source_that_just_started_is_valid():
    window = read_window("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n", URL)

    assert (window.segments, window.next_msn, start_msn(window)) == ((), 7, 7)


def test_an_ended_window_is_taken_from_its_first_segment():
    window = read_window(live(*(f"{n}.ts" for n in range(10)), sequence=3, tail="#EXT-X-ENDLIST"), URL)

    assert window.ended
    assert start_msn(window) == 3


def test_a_key_of_method_none_is_no_encryption():
    assert len(read_window(live("#EXT-X-KEY:METHOD=NONE\na.ts"), URL).segments) == 1


@pytest.mark.parametrize(("text", "code"), [
    (live('#EXT-X-KEY:METHOD=AES-128,URI="k.bin"\na.ts'), "source_encrypted"),
    (live("a.ts", '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="k"\nb.ts'), "source_encrypted"),  # from b on
    ("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\na.ts\n", "unsupported_source"),  # no target
    ("#EXTM3U\n#EXT-X-TARGETDURATION:2.5\n#EXTINF:2,\na.ts\n", "unsupported_source"),
    ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nlow.m3u8\n", "unsupported_source"),  # a master
    ("<html>not a playlist</html>", "unsupported_source"),
    (live("#EXT-X-BYTERANGE:500\nall.ts"), "unsupported_source"),  # its range follows nothing here
])
def test_live_playlists_that_cannot_be_followed_are_refused_with_a_code(text, code):
    with pytest.raises(SharprError) as refused:
        read_window(text, URL)
    assert refused.value.code == code


@pytest.mark.parametrize(("durations", "target", "start"), [
    ([2.0] * 10, 2, 57),  # 20 s: the last start at least 6 s before the end is at 14 s
    ([2.0] * 10, 6, 51),  # the same segments, target 6: at least 18 s before the end
    ([2.0] * 3, 2, 50),  # exactly three targets long
    ([2.0] * 2, 2, 50),  # shorter than three targets: the first
    ([2.0, 2.0, 1.5, 2.0, 0.5], 2, 51),  # 8 s; starts 0, 2, 4, 5.5, 7.5
    ([6.006] * 5, 6, 52),  # fractional EXTINF of a 29.97 fps source
    ([0.3] * 12, 1, 52),  # 10 x 0.3 is 3 s exactly, though a float sum of them falls short
])
def test_following_starts_no_later_than_three_target_durations_from_the_end(durations, target, start):
    assert start_msn(timed(durations, target)) == start


WINDOW = timed([2.0] * 5, 2, sequence=10)  # msns 10..14; start_msn 12


@pytest.mark.parametrize(("next_msn", "taken", "missed", "restarted"), [
    (12, [12, 13, 14], 0, False),  # the window grew: what is new
    (10, [10, 11, 12, 13, 14], 0, False),
    (15, [], 0, False),  # nothing new since the last reload
    (7, [10, 11, 12, 13, 14], 3, False),  # the window slid past 7, 8 and 9 before we took them
    (40, [12, 13, 14], 0, True),  # the sequence went back: the source restarted
])
def test_new_segments_after_a_reload(next_msn, taken, missed, restarted):
    result = new_segments(WINDOW, next_msn)

    assert [segment.msn for segment in result.segments] == taken
    assert (result.missed, result.restarted) == (missed, restarted)


def test_reload_waits_a_target_duration_after_a_change_and_half_of_one_after_none():
    assert (reload_delay(6, changed=True), reload_delay(6, changed=False)) == (6.0, 3.0)
    assert reload_delay(2, changed=False) == 1.0


SD = Rendition("sd", 640, 360, 30.0, 800_000)  # 6.9 Mpx/s
HD = Rendition("hd", 1280, 720, None, 3_000_000)  # 27.6 Mpx/s at the default 30 fps
FHD = Rendition("fhd", 1920, 1080, 60.0, 6_000_000)  # 124 Mpx/s


@pytest.mark.parametrize(("capacity", "chosen"), [
    (30e6, HD),  # the largest within what the fleet keeps up with
    (1e9, FHD),
    (27_648_000, HD),  # exactly its pixel rate fits
    (1e6, SD),  # none fits: the smallest
    (None, SD),  # no worker measured yet: the smallest, never the largest
])
def test_the_rendition_closest_to_capacity_is_chosen(capacity, chosen):
    assert closest_to_capacity([FHD, SD, HD], *one_tier(capacity)) == (chosen, Tier.quality)


def one_tier(capacity: float | None) -> tuple[dict[Tier, float], tuple[Tier, ...]]:
    """The measured rates and the tiers of a stream fixed at quality."""
    return ({} if capacity is None else {Tier.quality: capacity}), (Tier.quality,)


TIERED = (Tier.quality, Tier.balanced, Tier.fast)


@pytest.mark.parametrize(("rates", "chosen"), [
    ({Tier.quality: 1e9, Tier.balanced: 5e9, Tier.fast: 9e9}, (FHD, Tier.quality)),
    # the largest rendition at a faster tier comes before a smaller one at a better tier
    ({Tier.quality: 30e6, Tier.balanced: 130e6, Tier.fast: 1e9}, (FHD, Tier.balanced)),
    ({Tier.quality: 30e6, Tier.balanced: 40e6, Tier.fast: 130e6}, (FHD, Tier.fast)),
    # then smaller renditions, at the fastest tier only
    ({Tier.quality: 30e6, Tier.balanced: 30e6, Tier.fast: 30e6}, (HD, Tier.fast)),
    ({Tier.quality: 1e9}, (FHD, Tier.quality)),
    ({Tier.balanced: 1e9}, (FHD, Tier.balanced)),  # tiers not measured fit nothing
    ({Tier.quality: 1e6, Tier.fast: 2e6}, (SD, Tier.fast)),  # nothing fits: the smallest, fastest
    ({}, (SD, Tier.fast)),  # nothing measured: the smallest at the fastest tier
])
def test_the_rendition_and_tier_follow_the_clients_order(rates, chosen):
    assert closest_to_capacity([SD, FHD, HD], rates, TIERED) == chosen


def test_renditions_of_unknown_size_come_last_and_then_by_lowest_bandwidth():
    sizeless = [Rendition(name, None, None, None, bandwidth) for name, bandwidth in
                [("b", 500_000), ("a", 200_000), ("c", None)]]
    assert closest_to_capacity([*sizeless, FHD], *one_tier(1e6))[0] == FHD
    assert closest_to_capacity(sizeless, *one_tier(1e9))[0].url == "a"


def master(*variants: str, media: str = "") -> str:
    return "#EXTM3U\n" + media + "".join(f"#EXT-X-STREAM-INF:{v}\n" for v in variants)


VARIANTS = [
    'BANDWIDTH=64000,CODECS="mp4a.40.2"\naudio.m3u8',  # audio only: never followed
    'BANDWIDTH=800000,RESOLUTION=640x360,FRAME-RATE=30.000,CODECS="avc1.4d401e,mp4a.40.2"\nsd.m3u8',
    'BANDWIDTH=3000000,RESOLUTION=1280x720,FRAME-RATE=30.000,CODECS="avc1.4d401f,mp4a.40.2"\nhd.m3u8',
]


@pytest.mark.parametrize(("capacity", "chosen"), [(30e6, "hd"), (1e6, "sd"), (None, "sd")])
def test_live_master_playlist_resolves_to_the_variant_closest_to_capacity(capacity, chosen):
    assert pick_live_variant(master(*VARIANTS), URL, *one_tier(capacity)) == (f"{HERE}{chosen}.m3u8", Tier.quality)


def test_audio_only_variants_are_left_out():
    sizeless = master('BANDWIDTH=64000,CODECS="mp4a.40.2"\naudio.m3u8',
                      'BANDWIDTH=800000,CODECS="avc1.4d401e,mp4a.40.2"\nsd.m3u8',
                      "BANDWIDTH=3000000\nhd.m3u8")  # no CODECS: may have video, kept
    assert pick_live_variant(sizeless, URL, *one_tier(None))[0] == HERE + "sd.m3u8"  # not audio.m3u8
    with pytest.raises(SharprError) as refused:
        pick_live_variant(master(VARIANTS[0]), URL, *one_tier(None))
    assert refused.value.code == "unsupported_source"


def test_a_media_playlist_has_no_variant_to_pick():
    assert pick_live_variant(live("a.ts"), URL, *one_tier(1e9)) is None


AUDIO = '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",DEFAULT=YES{uri}\n'


def test_a_variant_whose_audio_is_only_in_a_separate_rendition_is_refused():
    separate = AUDIO.format(uri=',URI="en.m3u8"')
    text = master(VARIANTS[1].replace("\n", ',AUDIO="aud"\n'), media=separate)
    with pytest.raises(SharprError) as refused:
        pick_live_variant(text, URL, *one_tier(None))
    assert refused.value.code == "source_audio_separate"


@pytest.mark.parametrize("media", [
    AUDIO.format(uri=""),
    AUDIO.format(uri="") + AUDIO.format(uri=',URI="fr.m3u8"').replace("English", "French"),
])
def test_audio_without_uri_is_in_the_variants_own_segments(media):
    text = master(VARIANTS[1].replace("\n", ',AUDIO="aud"\n'), media=media)
    assert pick_live_variant(text, URL, *one_tier(None))[0] == HERE + "sd.m3u8"


def yt_format(url: str, protocol: str = "m3u8_native", height: int = 360, acodec: str = "mp4a.40.2",
              vcodec: str = "avc1.4d401e") -> dict:
    return {"url": url, "protocol": protocol, "width": height * 16 // 9, "height": height, "fps": 30,
            "vcodec": vcodec, "acodec": acodec, "tbr": 1000.5}


def test_youtube_live_follows_the_hls_format_with_audio_closest_to_capacity():
    formats = [yt_format("dash", protocol="https", height=144), yt_format("sd"),
               yt_format("hd", height=720), yt_format("fhd", height=1080, acodec="none"),
               yt_format("audio", vcodec="none", height=0)]
    assert pick_live_format(formats, *one_tier(1e9))[0]["url"] == "hd"
    assert pick_live_format(formats, *one_tier(None))[0]["url"] == "sd"
    assert pick_live_format(formats, {Tier.fast: 1e9}, TIERED) == (formats[2], Tier.fast)


@pytest.mark.parametrize(("formats", "code"), [
    ([yt_format("v", acodec="none"), yt_format("a", vcodec="none")], "source_audio_separate"),
    ([yt_format("dash", protocol="https"), yt_format("a", vcodec="none")], "unsupported_source"),
    ([], "unsupported_source"),
])
def test_youtube_live_without_a_followable_format_is_refused_with_a_code(formats, code):
    with pytest.raises(SharprError) as refused:
        pick_live_format(formats, *one_tier(1e9))
    assert refused.value.code == code
