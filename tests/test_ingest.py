"""Whole videos in: cutting at keyframes, URL refusals, and URL ingest end to end.

A local HTTP server (a thread on 127.0.0.1) stands in for the remote site; everything else
is real: yt-dlp's generic extractor, Redis, S3, the RQ jobs, PyAV.
"""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import httpx
import m3u8
import pytest
from rq import Queue
from rq.job import Job

from services.core.jobqueue import INGEST_QUEUE, RETRY, enqueue_ingest
from services.core.settings import Settings, get_settings
from services.core.streams import StreamStore
from services.ingest.fetch import Fetcher
from services.ingest.runner import run_ingest
from services.ingest.splitter import plan_cuts, probe_source, reencode_reason, split
from services.media.reencode import reencode
from services.media.segments import segment_clip
from services.packager.sweep import sweep
from tests.api_client import auth
from tests.conftest import run_queues
from tests.media import huge_header, moving_pattern, write_clip
from tests.remote_site import serving

WIDTH, HEIGHT, FPS = 64, 36, 15
FRAME = 1 / FPS


def write_gop_clip(path: Path, *, seconds: float, gop: int) -> int:
    """H.264 with B-frames and a keyframe every `gop` frames, plus AAC: a typical download."""
    frames = round(seconds * FPS)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options={"preset": "medium", "g": str(gop),
                                                             "keyint_min": str(gop), "sc_threshold": "0"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = out.add_stream("aac", rate=48000, layout="stereo")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(moving_pattern(i, WIDTH, HEIGHT), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        silence = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in silence.planes:
            plane.update(bytes(plane.buffer_size))
        silence.sample_rate = 48000
        for n in range(int(seconds * 48000 / 1024)):
            silence.pts = n * 1024
            out.mux(sound.encode(silence))
        out.mux(sound.encode())
    return frames


def decoded(path: Path) -> tuple[int, bool]:
    """(video frames, first frame is a keyframe)."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return len(frames), frames[0].key_frame


def test_source_with_short_gops_is_cut_by_copying_at_keyframes(tmp_path):
    source = tmp_path / "source.mp4"
    frames_in = write_gop_clip(source, seconds=5.0, gop=FPS)
    info = probe_source(source, Settings())
    cuts = plan_cuts(info, clip_seconds=2.0)
    assert reencode_reason(info, cuts, clip_max_seconds=3.0) is None

    clips = split(source, tmp_path, cuts)

    assert [c.start for c in clips] == [0.0, 2.0, 4.0]
    assert abs(sum(c.duration for c in clips) - 5.0) <= FRAME
    counts = [decoded(c.path) for c in clips]
    assert all(key for _, key in counts)
    assert sum(n for n, _ in counts) == frames_in


def test_source_with_one_long_gop_is_reencoded_with_keyframes_on_the_grid(tmp_path):
    source = tmp_path / "source.mp4"
    frames_in = write_clip(source, seconds=5.0, width=WIDTH, height=HEIGHT, fps=FPS)
    info = probe_source(source, Settings())
    assert info.keyframes == [0]
    assert "keyframes too far apart" in reencode_reason(info, plan_cuts(info, 2.0), clip_max_seconds=3.0)

    encoded = tmp_path / "encoded.mp4"
    reencode(source, encoded, keyframe_seconds=2.0, preset="ultrafast")
    info = probe_source(encoded, Settings())
    cuts = plan_cuts(info, 2.0)
    assert reencode_reason(info, cuts, clip_max_seconds=3.0) is None
    clips = split(encoded, tmp_path, cuts)

    assert len(clips) == 3 and max(c.duration for c in clips) <= 3.0
    assert abs(sum(c.duration for c in clips) - 5.0) <= FRAME
    assert sum(decoded(c.path)[0] for c in clips) == frames_in


def test_webm_source_is_reencoded_to_h264(tmp_path):
    source = tmp_path / "source.webm"
    write_clip(source, seconds=1.0, width=WIDTH, height=HEIGHT, fps=FPS)
    info = probe_source(source, Settings())
    assert reencode_reason(info, plan_cuts(info, 2.0), clip_max_seconds=3.0) == "video codec vp8"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, list[str], Path]]:
    """(base URL, requested paths, served folder) of an HTTP server on 127.0.0.1."""
    folder = tmp_path / "site"
    folder.mkdir()
    with serving(folder) as served:
        yield served.url, served.requests, folder


@pytest.fixture
def loopback_allowed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Ingest may fetch from 127.0.0.1, in clips of 2 s (env read by API and jobs alike);
    a source with one keyframe (as `write_clip` makes) must then be re-encoded."""
    monkeypatch.setenv("SHARPR_INGEST_ALLOW_HOSTS", '["127.0.0.1"]')
    monkeypatch.setenv("SHARPR_CLIP_SECONDS", "2")
    monkeypatch.setenv("SHARPR_CLIP_MAX_SECONDS", "2.5")
    get_settings.cache_clear()
    return get_settings()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "localhost"])
def test_internal_urls_are_refused_before_anything_is_fetched(api, site, host):
    base, requests, _ = site
    port = base.rsplit(":", 1)[1]
    for path in ("/v1/videos", "/process-video"):
        field = "url" if path == "/v1/videos" else "video_url"
        response = api.post(path, json={field: f"http://{host}:{port}/clip.mp4"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "url_forbidden"
    assert requests == []


def test_redirect_to_an_internal_address_fails_the_stream_unfetched(loopback_allowed, api, redis, site):
    base, requests, _ = site
    accepted = api.post("/v1/videos", json={"url": f"{base}/away?to=http://169.254.169.254/latest/meta-data"})
    assert accepted.status_code == 202
    video = accepted.json()

    run_queues(redis, "ingest")

    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] == "failed"
    assert status["error"].startswith("url_forbidden:")
    assert requests == ["/away?to=http://169.254.169.254/latest/meta-data"]


def test_fetcher_connects_to_the_checked_address_not_a_second_dns_answer(site, monkeypatch, tmp_path):
    """DNS rebinding: the name resolves to an allowed address for the guard's check and to
    another one (unroutable here) for any later lookup. A rebinding DNS server cannot exist
    here, so `getaddrinfo` plays it; the HTTP server and the fetcher are real."""
    base, requests, folder = site
    (folder / "clip.bin").write_bytes(b"video")
    port = base.rsplit(":", 1)[1]
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host: str, *args: object, **kwargs: object) -> list:
        if host == "rebind.test":
            host = next(answers, "10.255.255.1")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings = Settings(ingest_allow_hosts=["127.0.0.1"], ingest_timeout_seconds=3)
    with Fetcher(settings) as fetcher:
        size = fetcher.download(f"http://rebind.test:{port}/clip.bin", tmp_path / "clip.bin")
    assert size == 5 and requests == ["/clip.bin"]  # a second lookup would have led nowhere


def test_url_that_is_not_a_video_fails_the_stream(loopback_allowed, api, redis, site):
    base, _, folder = site
    (folder / "page.txt").write_text("no video here\n")
    video = api.post("/v1/videos", json={"url": f"{base}/page.txt"}).json()
    run_queues(redis, "ingest")
    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] == "failed" and status["error"].startswith("not_video:"), status
    assert_no_server_detail(status["error"])


def assert_no_server_detail(message: str) -> None:
    """No temp path, file name or FFmpeg function of ours in a message a client sees."""
    assert "/" not in message and "sharpr-" not in message and "()" not in message, message


def test_undecodable_upload_fails_once_as_bad_media(api, redis, tmp_path):
    """A source whose every frame FFmpeg refuses (VP8 keyframes claiming 16000x16000):
    one attempt, no retry, `bad_media` with no server path."""
    grant = api.post("/v1/videos/uploads", json={}).json()
    body = huge_header(tmp_path / "huge.webm")
    assert httpx.post(grant["url"], data=grant["fields"], files={"file": ("v.webm", body)}).status_code == 204
    assert api.post(f"/v1/videos/{grant['id']}/ingest", headers=auth(grant["token"])).status_code == 202

    run_queues(redis, "ingest")

    status = api.get(f"/v1/streams/{grant['id']}", headers=auth(grant["token"])).json()
    assert status["state"] == "failed" and status["error"].startswith("bad_media:"), status
    assert_no_server_detail(status["error"])
    job = Job.fetch(f"ingest-{grant['id']}", connection=redis)
    assert job.get_status() == "finished" and job.retries_left == RETRY.max


def test_ingest_job_queued_under_its_old_path_runs_after_the_upgrade(api, redis, settings, tmp_path):
    """A job queued before ingest left the packager names `services.packager.ingest`; the
    ingest service's own runner still runs it to the end."""
    grant = api.post("/v1/videos/uploads", json={}).json()
    write_clip(tmp_path / "upload.mp4", seconds=1.0, width=WIDTH, height=HEIGHT, fps=FPS)
    body = (tmp_path / "upload.mp4").read_bytes()
    assert httpx.post(grant["url"], data=grant["fields"], files={"file": ("v.mp4", body)}).status_code == 204
    job = Queue(INGEST_QUEUE, connection=redis).enqueue(
        "services.packager.ingest.ingest_video", grant["id"], job_id=f"ingest-{grant['id']}")

    run_ingest(settings, burst=True)

    assert job.get_status(refresh=True) == "finished"
    status = api.get(f"/v1/streams/{grant['id']}", headers=auth(grant["token"])).json()
    assert status["state"] == "ending" and [c["state"] for c in status["clips"]] == ["queued"], status


def test_ingest_job_may_run_longer_than_the_longest_video_it_accepts(settings, redis):
    """It may re-encode the whole video: the other jobs' timeout would cut long ones off."""
    job = enqueue_ingest(redis, settings, "a-stream")
    assert job.timeout > settings.ingest_max_seconds > settings.job_timeout_seconds


def test_video_over_the_byte_limit_fails_the_stream(loopback_allowed, api, redis, site, monkeypatch):
    base, _, folder = site
    write_clip(folder / "clip.mp4", seconds=1.0, width=WIDTH, height=HEIGHT, fps=FPS)
    monkeypatch.setenv("SHARPR_INGEST_MAX_BYTES", "1000")
    get_settings.cache_clear()
    video = api.post("/v1/videos", json={"url": f"{base}/clip.mp4"}).json()
    run_queues(redis, "ingest")
    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] == "failed" and status["error"].startswith("source_too_large:")


@pytest.mark.parametrize(("tier", "ran_at"), [("auto", "quality"), ("fast", "fast")])
def test_url_ingest_yields_enhanced_and_original_playlists_and_a_download(
    loopback_allowed, api, redis, site, tmp_path, tier, ran_at
):
    base, requests, folder = site
    frames_in = write_clip(folder / "clip.mp4", seconds=3.0, width=WIDTH, height=HEIGHT, fps=FPS)
    accepted = api.post("/v1/videos", json={"url": f"{base}/clip.mp4", "mode": "anime", "tier": tier})
    assert accepted.status_code == 202
    video = accepted.json()

    run_queues(redis, "ingest", "upscale", "package")

    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] == "ended", status
    assert [c["state"] for c in status["clips"]] == ["packaged", "packaged"]
    assert [c["tier"] for c in status["clips"]] == [ran_at] * 2  # a whole file on auto: the teacher
    enhanced = m3u8.loads(httpx.get(video["playlist_url"]).text)
    assert enhanced.is_endlist
    assert abs(sum(s.duration for s in enhanced.segments) - 3.0) <= FRAME
    original = m3u8.loads(httpx.get(video["original_playlist_url"]).text, uri=video["original_playlist_url"])
    assert original.is_endlist
    assert abs(sum(s.duration for s in original.segments) - 3.0) <= FRAME
    assert httpx.get(original.segments[0].absolute_uri).headers["content-type"] == "video/mp2t"
    assert "/clip.mp4" in requests

    download = api.get(f"/v1/streams/{video['id']}/download", headers=auth(video["token"]),
                       follow_redirects=False)
    assert download.status_code == 307
    body = httpx.get(download.headers["location"])
    assert body.status_code == 200
    (tmp_path / "enhanced.mp4").write_bytes(body.content)
    with av.open(str(tmp_path / "enhanced.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == frames_in
    assert (frames[0].width, frames[0].height) == (2 * WIDTH, 2 * HEIGHT)
    assert abs(frames[-1].time + FRAME - 3.0) <= FRAME


def hls_segments(tmp_path: Path, folder: Path) -> list[Path]:
    """A 4-s H.264/AAC video cut into two MPEG-TS segments in `folder`, as an HLS site has it."""
    write_gop_clip(tmp_path / "source.mp4", seconds=4.0, gop=2 * FPS)
    segmented = segment_clip(tmp_path / "source.mp4", folder, seq=0, offset=0.0, segment_seconds=2.0)
    assert len(segmented.segments) == 2
    return [segment.path for segment in segmented.segments]


def media_playlist(*segments: str) -> str:
    """A finished (VOD) media playlist of 2-s segments, each given as its tag lines and URI."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-TARGETDURATION:3", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for segment in segments:
        lines += ["#EXTINF:2.000,", segment]
    return "\n".join([*lines, "#EXT-X-ENDLIST", ""])


def ingested_seconds(api, redis, video: dict) -> float:
    """Run the video's ingest and everything after it; the enhanced playlist's length."""
    run_queues(redis, "ingest", "upscale", "package")
    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] == "ended", status
    enhanced = m3u8.loads(httpx.get(video["playlist_url"]).text)
    assert enhanced.is_endlist
    return sum(s.duration for s in enhanced.segments)


def test_hls_source_is_fetched_part_by_part_through_its_master_playlist(
    loopback_allowed, api, redis, site, tmp_path
):
    base, requests, folder = site
    segments = hls_segments(tmp_path, folder)
    (folder / "low.m3u8").write_text(media_playlist(*(path.name for path in segments)))
    (folder / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000,RESOLUTION=32x18\nnothing.m3u8\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION={WIDTH}x{HEIGHT}\nlow.m3u8\n"
    )
    video = api.post("/v1/videos", json={"url": f"{base}/master.m3u8"}).json()

    assert abs(ingested_seconds(api, redis, video) - 4.0) <= 2 * FRAME
    assert {"/low.m3u8"} | {f"/{path.name}" for path in segments} <= set(requests)


def test_hls_source_of_byte_ranges_in_one_file_is_fetched_range_by_range(
    loopback_allowed, api, redis, site, tmp_path
):
    """Both segments in one file, the second range without an offset (RFC 8216 §4.3.2.2)."""
    base, requests, folder = site
    first, second = (path.read_bytes() for path in hls_segments(tmp_path, tmp_path))
    (folder / "all.ts").write_bytes(first + second)
    (folder / "index.m3u8").write_text(media_playlist(
        f"#EXT-X-BYTERANGE:{len(first)}@0\nall.ts", f"#EXT-X-BYTERANGE:{len(second)}\nall.ts"))
    video = api.post("/v1/videos", json={"url": f"{base}/index.m3u8"}).json()

    # The whole file twice would be 8 s; a server that ignored the ranges fails the fetch.
    assert abs(ingested_seconds(api, redis, video) - 4.0) <= 2 * FRAME
    assert requests.count("/all.ts") >= 2


def test_hls_source_with_its_sound_only_in_a_separate_rendition_is_refused_with_a_code(
    loopback_allowed, api, redis, site
):
    base, requests, folder = site
    (folder / "master.m3u8").write_text(
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=64x36,CODECS="avc1.64000a,mp4a.40.2",AUDIO="aud"\n'
        "video.m3u8\n"
    )
    (folder / "video.m3u8").write_text(media_playlist("v.ts"))
    (folder / "audio.m3u8").write_text(media_playlist("a.ts"))
    video = api.post("/v1/videos", json={"url": f"{base}/master.m3u8"}).json()

    run_queues(redis, "ingest")

    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] == "failed" and status["error"].startswith("source_audio_separate:"), status
    assert not any(path.endswith(".ts") for path in requests)


@pytest.mark.parametrize(("playlist", "code"), [
    ("#EXTM3U\n#EXTINF:2,\na.ts\n", "unsupported_source"),  # live: no ENDLIST
    ('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n', "source_encrypted"),
    ("#EXTM3U\n#EXT-X-ENDLIST\n", "not_video"),
])
def test_hls_sources_that_cannot_be_ingested_are_refused_with_a_code(playlist, code):
    from services.core.errors import SharprError
    from services.ingest.hls_source import media_parts

    with pytest.raises(SharprError) as refused:
        media_parts(playlist, "http://example.com/v/index.m3u8")
    assert refused.value.code == code


def test_master_playlist_resolves_to_its_highest_bandwidth_variant():
    from services.ingest.hls_source import pick_variant

    master = ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\nhi/index.m3u8\n"
              "#EXT-X-STREAM-INF:BANDWIDTH=100000\nlo/index.m3u8\n")
    assert pick_variant(master, "http://example.com/v/master.m3u8") == "http://example.com/v/hi/index.m3u8"
    assert pick_variant("#EXTM3U\n#EXTINF:2,\na.ts\n", "http://example.com/") is None


def test_hls_parts_are_the_init_segment_then_the_media_segments():
    from services.ingest.hls_source import Part, media_parts

    playlist = '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\n0.m4s\n#EXTINF:2,\nsub/1.m4s\n#EXT-X-ENDLIST\n'
    assert media_parts(playlist, "http://example.com/v/index.m3u8") == [
        Part("http://example.com/v/init.mp4"), Part("http://example.com/v/0.m4s"),
        Part("http://example.com/v/sub/1.m4s"),
    ]


def test_hls_init_segment_is_written_again_wherever_the_map_changes():
    from services.ingest.hls_source import Part, media_parts

    playlist = ('#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-MAP:URI="a.mp4"\n#EXTINF:2,\n0.m4s\n#EXTINF:2,\n1.m4s\n'
                '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="b.mp4"\n#EXTINF:2,\n2.m4s\n'
                '#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="b.mp4"\n#EXTINF:2,\n3.m4s\n#EXT-X-ENDLIST\n')
    assert [part.url.rsplit("/", 1)[1] for part in media_parts(playlist, "http://example.com/v/i.m3u8")] == [
        "a.mp4", "0.m4s", "1.m4s", "b.mp4", "2.m4s", "3.m4s"]
    assert all(part == Part(part.url) for part in media_parts(playlist, "http://example.com/v/i.m3u8"))


def test_hls_byte_ranges_follow_one_another_when_they_name_no_offset():
    from services.ingest.hls_source import Part, media_parts

    playlist = ('#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-MAP:URI="all.mp4",BYTERANGE="700"\n'
                '#EXTINF:2,\n#EXT-X-BYTERANGE:1000@700\nall.mp4\n#EXTINF:2,\n#EXT-X-BYTERANGE:500\nall.mp4\n'
                '#EXTINF:2,\n#EXT-X-BYTERANGE:300@0\nother.ts\n#EXT-X-ENDLIST\n')
    assert media_parts(playlist, "http://example.com/v/i.m3u8") == [
        Part("http://example.com/v/all.mp4", (0, 700)), Part("http://example.com/v/all.mp4", (700, 1000)),
        Part("http://example.com/v/all.mp4", (1700, 500)), Part("http://example.com/v/other.ts", (0, 300)),
    ]


@pytest.mark.parametrize("playlist", [
    "#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:500\na.ts\n#EXT-X-ENDLIST\n",  # no range before it
    "#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:5@0\na.ts\n#EXTINF:2,\n#EXT-X-BYTERANGE:5\nb.ts\n#EXT-X-ENDLIST\n",
    "#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:lots\na.ts\n#EXT-X-ENDLIST\n",
    "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=64x36\nlow.m3u8\n",  # a variant without BANDWIDTH
])
def test_hls_playlists_that_cannot_be_read_are_refused_as_unsupported(playlist):
    from services.core.errors import SharprError
    from services.ingest.hls_source import media_parts, pick_variant

    with pytest.raises(SharprError) as refused:
        pick_variant(playlist, "http://example.com/v/index.m3u8")
        media_parts(playlist, "http://example.com/v/index.m3u8")
    assert refused.value.code == "unsupported_source"


def test_a_long_ingest_is_kept_active_and_not_ended_as_idle(loopback_allowed, api, redis, tmp_path, monkeypatch):
    """A download that takes longer than the idle time writes nothing to the stream: the
    sweep ended it under the ingest, whose clips were then refused. The ingest now marks the
    stream active as it goes."""
    monkeypatch.setenv("SHARPR_STREAM_IDLE_SECONDS", "2")  # the ingest job reads it too
    get_settings.cache_clear()
    settings = get_settings()
    folder = tmp_path / "slow"
    folder.mkdir()
    write_clip(folder / "clip.mp4", seconds=3.0, width=WIDTH, height=HEIGHT, fps=FPS)
    size = (folder / "clip.mp4").stat().st_size
    streams = StreamStore(redis, settings.stream_ttl_seconds)
    with serving(folder, bytes_per_second=size / 5) as slow:  # five seconds to download
        video = api.post("/v1/videos", json={"url": f"{slow.url}/clip.mp4"}).json()
        done = threading.Event()

        def sweep_every_half_second() -> None:
            while not done.wait(0.5):
                asyncio.run(sweep(settings, streams, time.time()))

        sweeper = threading.Thread(target=sweep_every_half_second)
        sweeper.start()
        try:
            run_queues(redis, "ingest")
        finally:
            done.set()
            sweeper.join()

    status = api.get(f"/v1/streams/{video['id']}", headers=auth(video["token"])).json()
    assert status["state"] in ("ending", "ended") and status["error"] is None, status
    assert len(status["clips"]) == 2  # 3 s in clips of 2 s
