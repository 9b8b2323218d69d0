"""The packager on real media, real Redis and real S3: MP4 clips in, a playable HLS stream out."""

import asyncio
import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import m3u8
import pytest
from redis import Redis

from services.core import keys
from services.core.jobqueue import PACKAGE_QUEUE, enqueue_ingest, enqueue_package
from services.core.playlist_record import load_playlist_record, save_playlist_record
from services.core.schemas import Clip, ClipPart, ClipState, Enhancement, StreamState
from services.core.settings import Settings, get_settings
from services.core.storage import PLAYLIST_CACHE_CONTROL, SEGMENT_CACHE_CONTROL, open_store
from services.core.streams import StreamStore
from services.media.segments import BASE_SECONDS, segment_clip
from services.packager.runner import run_packager
from tests.conftest import run_queues
from tests.media import write_clip
from tests.stream_checks import object_bytes

FPS = 15
FRAME = 1 / FPS


def write_output_clip(path: Path, *, seconds: float, keyframe_seconds: float = 2.0) -> Path:
    """An MP4 as the worker stores it: H.264 with B-frames and a keyframe exactly every
    `keyframe_seconds`, plus AAC; made by re-encoding a `write_clip` clip."""
    source = path.with_name(path.stem + "-source.mp4")
    write_clip(source, seconds=seconds, fps=FPS)
    keyint = str(round(keyframe_seconds * FPS))
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        video.options = {"preset": "ultrafast", "bf": "2", "g": keyint, "keyint_min": keyint,
                         "sc_threshold": "0"}
        audio = out.add_stream_from_template(src.streams.audio[0])
        for packet in src.demux():
            if packet.dts is None:  # the demuxer's empty flush packet
                continue
            if packet.stream.type == "audio":
                packet.stream = audio
                out.mux(packet)
                continue
            for frame in packet.decode():
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(video.encode(frame))
        out.mux(video.encode())
    return path


def decoded_video_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0)]


# --- segmenter -------------------------------------------------------------------------

def test_clip_is_cut_into_two_second_segments_that_each_decode(tmp_path):
    clip = write_output_clip(tmp_path / "clip.mp4", seconds=6)
    result = segment_clip(clip, tmp_path, seq=3, offset=0.0, segment_seconds=2.0)

    assert [s.name for s in result.segments] == ["000003_000.ts", "000003_001.ts", "000003_002.ts"]
    assert [s.duration for s in result.segments] == pytest.approx([2.0, 2.0, 2.0], abs=FRAME)
    assert sum(s.duration for s in result.segments) == pytest.approx(result.duration, abs=1e-9)
    assert result.duration == pytest.approx(6.0, abs=FRAME)
    for segment in result.segments:
        with av.open(str(segment.path)) as container:
            assert container.format.name == "mpegts"
            assert {s.type for s in container.streams} == {"video", "audio"}
            frames = list(container.decode(video=0))
            assert frames[0].key_frame  # every segment starts with a keyframe
            assert len(frames) == round(segment.duration * FPS)
            assert float(frames[0].time) == pytest.approx(float(BASE_SECONDS) + segment.start, abs=1e-4)


def test_last_segment_ends_at_the_clip_end(tmp_path):
    clip = write_output_clip(tmp_path / "clip.mp4", seconds=5)
    result = segment_clip(clip, tmp_path, seq=0, offset=0.0, segment_seconds=2.0)
    assert [s.duration for s in result.segments] == pytest.approx([2.0, 2.0, 1.0], abs=FRAME)
    assert result.duration == pytest.approx(5.0, abs=FRAME)


def test_timestamps_run_on_across_clips(tmp_path):
    first = write_output_clip(tmp_path / "a.mp4", seconds=4)
    second = write_output_clip(tmp_path / "b.mp4", seconds=4)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = segment_clip(first, tmp_path / "a", seq=0, offset=0.0, segment_seconds=2.0)
    two = segment_clip(second, tmp_path / "b", seq=1, offset=one.duration, segment_seconds=2.0)

    last_of_one = decoded_video_times(one.segments[-1].path)[-1]
    first_of_two = decoded_video_times(two.segments[0].path)[0]
    assert first_of_two - float(BASE_SECONDS) == pytest.approx(one.duration, abs=1e-4)
    assert first_of_two - last_of_one == pytest.approx(FRAME, abs=1e-4)  # no gap, no overlap


def test_clip_without_audio_is_segmented(tmp_path):
    clip = tmp_path / "silent.mp4"
    write_clip(clip, seconds=2, fps=FPS, audio=False)
    result = segment_clip(clip, tmp_path, seq=0, offset=0.0, segment_seconds=2.0)
    assert len(result.segments) == 1
    with av.open(str(result.segments[0].path)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert len(list(container.decode(video=0))) == 2 * FPS


# --- job against Redis and S3 ----------------------------------------------------------

class StreamFixture:
    """A registered stream whose clips the test finishes by hand, as the worker would."""

    def __init__(self, settings: Settings, redis: Redis, tmp_path: Path, clips: int) -> None:
        self.settings, self.redis, self.tmp = settings, redis, tmp_path
        self.streams = StreamStore(redis, settings.stream_ttl_seconds)
        self.stream, _ = self.streams.create_stream(Enhancement())
        self.id = self.stream.id
        for seq in range(clips):
            self.streams.insert_clip(Clip(
                stream_id=self.id, seq=seq, key=keys.input_key(self.id, seq, "webm"),
                state=ClipState.queued, timings={"registered_at": time.time()},
            ))

    def finish(self, seq: int, seconds: float = 4.0) -> None:
        self.encode(seq, seconds)
        self.package(seq)

    def encode(self, seq: int, seconds: float, keyframe_seconds: float = 2.0) -> None:
        """What the worker leaves behind: every part in S3 and recorded, the clip `encoded`."""
        parts = math.ceil(seconds / keyframe_seconds - 1e-9)
        for n in range(parts):
            start = n * keyframe_seconds
            self.publish_part(seq, n, min(keyframe_seconds, seconds - start), start)
        self.streams.update_clip(self.id, seq, state=ClipState.encoded, duration=seconds)

    def publish_part(self, seq: int, n: int, seconds: float = 2.0, start: float | None = None) -> None:
        """One part of a clip as the worker publishes it mid-clip: stored, then recorded."""
        path = write_output_clip(self.tmp / f"out-{seq}-{n}.mp4", seconds=seconds, keyframe_seconds=seconds)

        async def upload() -> None:
            async with open_store(self.settings) as store:
                await store.put_file(keys.output_part_key(self.id, seq, n), path)

        asyncio.run(upload())
        self.streams.add_part(self.id, seq, ClipPart(
            n=n, start=2.0 * n if start is None else start, published_at=time.time(),
        ))

    def fail(self, seq: int) -> None:
        self.streams.update_clip(self.id, seq, state=ClipState.failed, error_code="bad_media")
        self.package(seq)

    def stop(self) -> None:
        stream = self.streams.get_stream(self.id)
        self.streams.save_stream(stream.model_copy(update={"state": StreamState.ending}))
        self.package(None)

    def package(self, seq: int | None) -> None:
        enqueue_package(self.redis, self.settings, self.id, seq)
        run_queues(self.redis, PACKAGE_QUEUE)

    def get(self, key: str) -> httpx.Response:
        """What a browser gets: the public URL, no credentials."""
        return httpx.get(f"{self.settings.s3_browser_url}/{key}")

    def playlist(self) -> m3u8.M3U8 | None:
        response = self.get(keys.playlist_key(self.id))
        return m3u8.loads(response.text) if response.status_code == 200 else None


@pytest.fixture
def make_stream(settings, redis, tmp_path):
    return lambda clips: StreamFixture(settings, redis, tmp_path, clips)


def test_clips_finishing_out_of_order_publish_one_ordered_playlist(make_stream, tmp_path):
    stream = make_stream(3)

    stream.finish(2)
    assert stream.playlist() is None  # clip 2 waits for clips 0 and 1

    stream.finish(0)
    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == ["000000_000.ts", "000000_001.ts"]
    assert playlist.playlist_type == "event" and not playlist.is_endlist

    stream.finish(1)
    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == [
        f"{seq:06d}_{n:03d}.ts" for seq in range(3) for n in range(2)
    ]
    assert playlist.target_duration == 3
    assert not playlist.is_endlist
    clips = stream.streams.get_clips(stream.id)
    assert [c.state for c in clips] == [ClipState.packaged] * 3
    assert all({"package", "latency"} <= c.timings.keys() for c in clips)

    # The segments, fetched as a player would and played back to back, are one
    # continuous 12 s video: every frame one frame after the one before.
    joined = tmp_path / "joined.ts"
    with joined.open("wb") as out:
        for segment in playlist.segments:
            response = stream.get(keys.hls_prefix(stream.id) + segment.uri)
            assert response.headers["content-type"] == "video/mp2t"
            assert response.headers["cache-control"] == SEGMENT_CACHE_CONTROL
            out.write(response.content)
    times = decoded_video_times(joined)
    assert len(times) == 3 * 4 * FPS
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert steps == pytest.approx([FRAME] * len(steps), abs=1e-4)


def test_parts_of_a_clip_are_appended_while_the_clip_is_still_being_encoded(make_stream, tmp_path):
    stream = make_stream(2)
    stream.streams.update_clip(stream.id, 0, state=ClipState.upscaling)

    stream.publish_part(0, 0)
    stream.package(0)
    assert [s.uri for s in stream.playlist().segments] == ["000000_000.ts"]
    assert stream.streams.get_clip(stream.id, 0).state == ClipState.upscaling

    stream.finish(1)  # the next clip waits for all of clip 0
    assert [s.uri for s in stream.playlist().segments] == ["000000_000.ts"]

    stream.publish_part(0, 1)
    stream.package(0)
    assert [s.uri for s in stream.playlist().segments] == ["000000_000.ts", "000000_001.ts"]

    stream.publish_part(0, 2, seconds=1.0)
    stream.streams.update_clip(stream.id, 0, state=ClipState.encoded)
    stream.package(0)
    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == [
        "000000_000.ts", "000000_001.ts", "000000_002.ts", "000001_000.ts", "000001_001.ts"
    ]
    assert stream.streams.get_clip(stream.id, 0).state == ClipState.packaged

    # Appended one at a time, the segments still play as one continuous 9 s video.
    joined = tmp_path / "joined.ts"
    with joined.open("wb") as out:
        for segment in playlist.segments:
            out.write(stream.get(keys.hls_prefix(stream.id) + segment.uri).content)
    times = decoded_video_times(joined)
    assert len(times) == 9 * FPS
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert steps == pytest.approx([FRAME] * len(steps), abs=1e-4)


def test_a_part_recorded_before_the_one_before_it_waits_for_it(make_stream):
    stream = make_stream(1)
    stream.streams.update_clip(stream.id, 0, state=ClipState.upscaling)
    stream.publish_part(0, 1)
    stream.package(0)
    assert stream.playlist() is None

    stream.publish_part(0, 0)
    stream.package(0)
    assert [s.uri for s in stream.playlist().segments] == ["000000_000.ts", "000000_001.ts"]


def test_a_failed_clip_keeps_its_published_parts_in_the_playlist_and_download(make_stream):
    stream = make_stream(2)
    stream.publish_part(0, 0)
    stream.fail(0)
    stream.finish(1)
    stream.stop()
    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == ["000000_000.ts", "000001_000.ts", "000001_001.ts"]
    assert playlist.is_endlist

    download = stream.tmp / "download.mp4"  # private: the API hands out a presigned URL for it
    download.write_bytes(object_bytes(stream.settings, keys.download_key(stream.id)))
    times = decoded_video_times(download)
    assert len(times) == 6 * FPS  # the failed clip's 2 s, then clip 1's 4 s
    assert times[-1] == pytest.approx(6 - FRAME, abs=1e-3)


def test_stopped_stream_gets_endlist_and_ends(make_stream):
    stream = make_stream(2)
    stream.finish(0)
    stream.finish(1)
    assert not stream.playlist().is_endlist

    stream.stop()
    response = stream.get(keys.playlist_key(stream.id))
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert response.headers["cache-control"] == PLAYLIST_CACHE_CONTROL
    playlist = m3u8.loads(response.text)
    assert playlist.is_endlist
    assert len(playlist.segments) == 4
    assert stream.streams.get_stream(stream.id).state == StreamState.ended


def test_failed_clip_and_missing_clip_do_not_stall_a_stopped_stream(make_stream):
    stream = make_stream(3)  # clips 0, 1, 2 registered; 3 never arrives; 4 arrives
    stream.streams.insert_clip(Clip(stream_id=stream.id, seq=4, key=keys.input_key(stream.id, 4, "webm")))
    stream.finish(0, seconds=2)
    stream.fail(1)
    stream.finish(2, seconds=2)
    stream.finish(4, seconds=2)
    assert [s.uri for s in stream.playlist().segments] == ["000000_000.ts", "000002_000.ts"]

    stream.stop()
    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == ["000000_000.ts", "000002_000.ts", "000004_000.ts"]
    assert playlist.is_endlist
    assert load_playlist_record(stream.redis, stream.id).offset == pytest.approx(6.0, abs=FRAME)


def test_clip_without_keyframes_at_segment_edges_is_failed_not_published(make_stream):
    """Its 4 s segment would break the fixed 3 s target duration for every player."""
    stream = make_stream(2)
    stream.encode(0, seconds=4, keyframe_seconds=4)
    stream.finish(1)
    assert [s.uri for s in stream.playlist().segments] == ["000001_000.ts", "000001_001.ts"]
    clip = stream.streams.get_clip(stream.id, 0)
    assert clip.state == ClipState.failed and clip.error_code == "bad_segments"


def test_a_part_that_cannot_be_remuxed_fails_its_clip_and_the_stream_goes_on(make_stream):
    """Remuxing a broken part fails the same way on every try: it used to raise, be retried,
    and hold every later clip of the stream behind it for good. Now the clip keeps the
    parts before it and fails, and the next clip is published."""
    stream = make_stream(2)
    stream.publish_part(0, 0)

    async def upload_broken() -> None:
        async with open_store(stream.settings) as store:
            await store.put_bytes(keys.output_part_key(stream.id, 0, 1), b"\x00\x00\x00\x18ftypisom" + bytes(64))

    asyncio.run(upload_broken())
    stream.streams.add_part(stream.id, 0, ClipPart(n=1, start=2.0, published_at=time.time()))
    stream.streams.update_clip(stream.id, 0, state=ClipState.encoded, duration=4.0)
    stream.package(0)
    stream.finish(1)
    stream.stop()

    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == ["000000_000.ts", "000001_000.ts", "000001_001.ts"]
    assert playlist.is_endlist
    clip = stream.streams.get_clip(stream.id, 0)
    assert (clip.state, clip.error_code) == (ClipState.failed, "bad_segments")
    assert clip.error.startswith("a part could not be cut into a segment: ") and "/" not in clip.error


def test_packaging_again_after_a_lost_record_write_gives_the_same_playlist(make_stream):
    """A packager killed after writing the playlist but before saving its record redoes the
    clip with the same keys and the same bytes."""
    stream = make_stream(2)
    stream.finish(0)
    before = load_playlist_record(stream.redis, stream.id)
    stream.finish(1)
    published = stream.get(keys.playlist_key(stream.id)).text
    segment = stream.get(keys.segment_key(stream.id, 1, 0)).content

    ttl = stream.settings.stream_ttl_seconds
    save_playlist_record(stream.redis, stream.id, before, ttl)  # the record's write never happened
    stream.package(1)
    assert stream.get(keys.playlist_key(stream.id)).text == published
    assert stream.get(keys.segment_key(stream.id, 1, 0)).content == segment

    stream.package(1)  # and a plain repeat changes nothing either
    assert stream.get(keys.playlist_key(stream.id)).text == published


def test_packager_process_works_the_package_queue(make_stream, settings):
    stream = make_stream(1)
    stream.encode(0, seconds=2)
    enqueue_package(stream.redis, settings, stream.id, 0)

    run_packager(settings, burst=True)  # a forking RQ worker, as in production

    assert [s.uri for s in stream.playlist().segments] == ["000000_000.ts"]


def test_packager_imports_its_job_modules_before_forking(settings):
    """Each forked job inherits them; imported in the child they cost ~0.33 s of CPU a job."""
    code = (
        "import json, sys; from services.core.settings import get_settings; "
        "from services.packager.runner import run_packager; "
        "assert 'services.packager.jobs' not in sys.modules; "
        "run_packager(get_settings(), burst=True); "
        "print(json.dumps([m for m in sys.modules if m.startswith('services.packager.')]))"
    )
    env = {**os.environ, "SHARPR_REDIS_URL": settings.redis_url}
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert {"services.packager.jobs", "services.packager.sweep"} <= set(json.loads(done.stdout.splitlines()[-1]))


def test_packager_process_leaves_ingest_jobs_to_the_ingest_service(make_stream, settings):
    """A long ingest never occupies a packager: only the ingest service takes its jobs."""
    stream = make_stream(1)
    ingest = enqueue_ingest(stream.redis, settings, stream.id)

    run_packager(settings, burst=True)

    assert ingest.get_status(refresh=True) == "queued"


# --- a stream that follows a live source: a sliding playlist -------------------------------

@pytest.fixture
def live_window(settings, monkeypatch) -> float:
    """An 11 s window: six 2 s segments (five would last 10 s), over the 9 s floor."""
    monkeypatch.setenv("SHARPR_LIVE_WINDOW_SECONDS", "11")
    get_settings.cache_clear()
    return get_settings().live_window_seconds


def test_a_live_source_stream_slides_and_marks_where_the_source_jumped(make_stream, live_window):
    stream = make_stream(5)
    live = stream.streams.get_stream(stream.id).model_copy(update={"live_source": True})
    stream.streams.save_stream(live)
    for seq in (2, 3):  # the source jumped before clips 2 and 3
        stream.streams.update_clip(stream.id, seq, discontinuity=True)
    uris = [f"{seq:06d}_{n:03d}.ts" for seq in (0, 1, 2, 4) for n in range(4)]

    stream.finish(0, seconds=8)
    playlist = stream.playlist()
    assert playlist.playlist_type is None  # sliding from its first write (§6.2.1)
    assert "#EXT-X-PLAYLIST-TYPE" not in stream.get(keys.playlist_key(stream.id)).text
    assert (playlist.media_sequence, playlist.discontinuity_sequence) == (0, 0)
    assert [s.uri for s in playlist.segments] == uris[:4]

    stream.finish(1, seconds=8)
    stream.finish(2, seconds=8)
    playlist = stream.playlist()
    assert not playlist.is_endlist
    assert [s.uri for s in playlist.segments] == uris[6:12]  # 12 s: the last six
    assert (playlist.media_sequence, playlist.discontinuity_sequence) == (6, 0)
    # The tag sits right before the first segment of the clip after the jump.
    assert [s.discontinuity for s in playlist.segments] == [False, False, True, False, False, False]

    # Clip 3 fails whole: its jump goes to the next segment listed, clip 4's first.
    stream.fail(3)
    stream.finish(4, seconds=8)
    playlist = stream.playlist()
    assert [s.uri for s in playlist.segments] == uris[10:]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True, False, False, False]
    # Clip 2's tagged segment left: the discontinuity sequence counts it (§6.2.2).
    assert (playlist.media_sequence, playlist.discontinuity_sequence) == (10, 1)
    record = load_playlist_record(stream.redis, stream.id)
    assert record.offset == pytest.approx(32.0, abs=4 * FRAME)  # the timeline keeps counting

    stream.stop()
    playlist = stream.playlist()
    assert playlist.is_endlist and playlist.playlist_type is None
    assert [s.uri for s in playlist.segments] == uris[10:]
    assert (playlist.media_sequence, playlist.discontinuity_sequence) == (10, 1)
    assert stream.streams.get_stream(stream.id).state == StreamState.ended
    # The download holds what the closed playlist lists: its last 12 s.
    download = stream.tmp / "download.mp4"
    download.write_bytes(object_bytes(stream.settings, keys.download_key(stream.id)))
    assert len(decoded_video_times(download)) == 12 * FPS


def test_a_stream_without_a_live_source_never_slides(make_stream, live_window):
    stream = make_stream(2)
    stream.streams.update_clip(stream.id, 1, discontinuity=True)  # only a live source's jumps count
    stream.finish(0, seconds=8)
    stream.finish(1, seconds=8)
    stream.stop()
    text = stream.get(keys.playlist_key(stream.id)).text
    playlist = m3u8.loads(text)
    assert playlist.playlist_type == "event" and playlist.media_sequence == 0
    assert "#EXT-X-DISCONTINUITY" not in text
    assert [s.uri for s in playlist.segments] == [f"{seq:06d}_{n:03d}.ts" for seq in range(2) for n in range(4)]
    assert playlist.is_endlist
