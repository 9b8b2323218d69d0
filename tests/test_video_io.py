"""The worker's video I/O on real clips: counting, transcoding, keyframes, audio, bad input."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from services.core.errors import BadMedia
from services.core.settings import Settings
from services.media.probe import probe
from services.media.segments import remux_part
from services.worker.clip_limits import probe_clip
from services.worker.pipeline import transcode
from services.worker.upscaler import ResizeUpscaler
from tests.media import moving_pattern, write_clip

FPS = 15


@pytest.fixture
def video_settings() -> Settings:
    """Pure video work needs no Redis or S3: only the encoder and segment settings."""
    return Settings(encoder_preset="ultrafast", segment_seconds=2.0)


def streams_of(path: Path) -> dict[str, list[av.Packet]]:
    with av.open(str(path)) as container:
        packets: dict[str, list[av.Packet]] = {s.type: [] for s in container.streams}
        for packet in container.demux():
            if packet.size:
                packets[packet.stream.type].append(packet)
        return packets


def keyframe_times(path: Path) -> list[float]:
    return sorted(float(p.pts * p.time_base) for p in streams_of(path)["video"] if p.is_keyframe)


def track_seconds(packets: list[av.Packet]) -> float:
    last = max(packets, key=lambda p: p.pts)
    first = min(p.pts for p in packets)
    return float((last.pts + last.duration - first) * last.time_base)


def test_webm_frames_are_counted_by_demuxing_though_the_header_has_no_duration(tmp_path):
    clip = tmp_path / "rec.webm"
    written = write_clip(clip, seconds=2, fps=FPS)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].frames == 0  # what MediaRecorder-style WebM tells
    assert probe(clip, max_frames=written).frames == written


@pytest.mark.parametrize("name", ["rec.webm", "upload.mp4"])
def test_transcode_doubles_size_keeps_frames_duration_audio_and_segment_keyframes(tmp_path, video_settings, name):
    clip, out = tmp_path / name, tmp_path / "out.mp4"
    written = write_clip(clip, seconds=4.5, width=64, height=36, fps=FPS)
    seen: list[tuple[int, int]] = []

    result = transcode(clip, out, ResizeUpscaler(2), video_settings, lambda d, t: seen.append((d, t)))

    assert (result.frames, result.width, result.height) == (written, 128, 72)
    assert result.duration == pytest.approx(written / FPS, abs=1 / FPS)
    assert seen[-1] == (written, written)
    packets = streams_of(out)
    assert len(packets["video"]) == written
    assert track_seconds(packets["video"]) == pytest.approx(result.duration, abs=1e-3)
    assert track_seconds(packets["audio"]) == pytest.approx(result.duration, abs=0.03)
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 128, 72)
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (audio.codec_context.name, audio.rate, audio.channels) == ("aac", 48000, 2)
    # A keyframe on the first frame at or after every 2 s boundary, and nowhere else.
    assert keyframe_times(out) == pytest.approx([0.0, 2.0, 4.0], abs=1e-3)


def test_input_without_audio_gets_a_silent_aac_track_as_long_as_the_video(tmp_path, video_settings):
    clip, out = tmp_path / "mute.mp4", tmp_path / "out.mp4"
    write_clip(clip, seconds=2, fps=FPS, audio=False)

    result = transcode(clip, out, ResizeUpscaler(2), video_settings, None)

    packets = streams_of(out)
    assert track_seconds(packets["audio"]) == pytest.approx(result.duration, abs=0.03)
    with av.open(str(out)) as container:
        samples = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert np.abs(samples).max() < 1e-3


def audio_far_after_video(path: Path, audio_start: int) -> None:
    """A WebM of 1 s of video whose only audio packet is stamped `audio_start` seconds in."""
    with av.open(str(path), "w", format="webm") as container:
        video = container.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        audio = container.add_stream("libopus", rate=48000, layout="stereo")
        for index in range(FPS):
            frame = av.VideoFrame.from_ndarray(moving_pattern(index, 64, 36), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        tone = av.AudioFrame.from_ndarray(np.full((2, 960), 0.1, np.float32), format="fltp",
                                          layout="stereo")
        tone.sample_rate, tone.time_base, tone.pts = 48000, Fraction(1, 48000), audio_start * 48000
        container.mux(audio.encode(tone))
        container.mux(audio.encode(None))


def test_audio_stamped_far_past_the_video_is_cut_at_the_video_end_not_padded_up_to(
    tmp_path, video_settings
):
    clip, out = tmp_path / "crafted.webm", tmp_path / "out.mp4"
    audio_far_after_video(clip, audio_start=10**6)  # padding up to it: 4.8e10 samples

    result = transcode(clip, out, ResizeUpscaler(2), video_settings, None)

    assert result.duration == pytest.approx(1.0, abs=1 / FPS)
    assert track_seconds(streams_of(out)["audio"]) == pytest.approx(result.duration, abs=0.03)


def test_variable_frame_rate_timestamps_are_kept(tmp_path, video_settings):
    clip, out = tmp_path / "vfr.mp4", tmp_path / "out.mp4"
    times_ms = [0, 40, 80, 200, 240, 600, 640, 2100, 2140]
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, ms in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(moving_pattern(i, 64, 36), format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())

    transcode(clip, out, ResizeUpscaler(2), video_settings, None)

    times = sorted(float(p.pts * p.time_base) for p in streams_of(out)["video"])
    assert times == pytest.approx([ms / 1000 for ms in times_ms], abs=1e-3)
    assert keyframe_times(out) == pytest.approx([0.0, 2.1], abs=1e-3)


def test_truncated_clip_keeps_the_frames_that_decode(tmp_path, video_settings):
    clip, cut, out = tmp_path / "full.webm", tmp_path / "cut.webm", tmp_path / "out.mp4"
    written = write_clip(clip, seconds=3, fps=FPS)
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])

    result = transcode(cut, out, ResizeUpscaler(2), video_settings, None)

    assert 0 < result.frames < written
    assert len(streams_of(out)["video"]) == result.frames


def test_png_renamed_to_webm_is_bad_media(tmp_path, video_settings):
    picture = tmp_path / "frame.webm"
    with av.open(str(picture), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 64, 36, "rgb24"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(moving_pattern(0, 64, 36), format="rgb24")))
        container.mux(stream.encode())
    renamed = tmp_path / "clip.webm"
    (tmp_path / "frame.webm").rename(renamed)
    with pytest.raises(BadMedia):
        transcode(renamed, tmp_path / "out.mp4", ResizeUpscaler(2), video_settings, None)


def test_zero_byte_clip_is_bad_media(tmp_path, video_settings):
    empty = tmp_path / "empty.webm"
    empty.write_bytes(b"")
    with pytest.raises(BadMedia, match="not a readable video"):
        transcode(empty, tmp_path / "out.mp4", ResizeUpscaler(2), video_settings, None)


def test_audio_only_clip_is_bad_media(tmp_path, video_settings):
    sound = tmp_path / "voice.webm"
    with av.open(str(sound), "w") as container:
        stream = container.add_stream("libopus", rate=48000, layout="stereo")
        tone = np.zeros((2, 960), np.float32)
        for i in range(50):
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, i * 960, Fraction(1, 48000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(BadMedia, match="no video stream"):
        transcode(sound, tmp_path / "out.mp4", ResizeUpscaler(2), video_settings, None)


def test_frames_larger_than_3840x2160_are_bad_media(tmp_path, video_settings):
    clip = tmp_path / "huge.mp4"
    write_clip(clip, seconds=1 / FPS, width=3856, height=2176, fps=FPS, audio=False)
    with pytest.raises(BadMedia, match="3856x2176 is over the limit of 3840x2160"):
        transcode(clip, tmp_path / "out.mp4", ResizeUpscaler(2), video_settings, None)


def test_frames_over_the_pixel_limit_are_scaled_down_to_it_before_the_upscaler(tmp_path):
    clip = tmp_path / "big.webm"
    written = write_clip(clip, seconds=1, width=64, height=36, fps=FPS)
    small_limit = Settings(clip_max_pixels=40 * 24, encoder_preset="ultrafast")

    result = transcode(clip, tmp_path / "out.mp4", ResizeUpscaler(2), small_limit, None)

    # sqrt(960 / 2304) of 64x36 is 41.3x23.2: the even size of the same aspect under it.
    assert result.input_size == (40, 22)
    assert (result.width, result.height, result.frames) == (80, 44, written)


def test_frames_come_out_at_the_size_the_stream_fixed_whatever_the_clip_size(tmp_path, video_settings):
    clip, output = tmp_path / "small.webm", tmp_path / "out.mp4"
    written = write_clip(clip, seconds=1, width=48, height=28, fps=FPS)
    asked = []

    def fixed_size(width: int, height: int) -> tuple[int, int]:
        asked.append((width, height))
        return 128, 72

    result = transcode(clip, output, ResizeUpscaler(2), video_settings, None, output_size=fixed_size)

    assert asked == [(96, 56)]
    assert (result.width, result.height, result.frames) == (128, 72, written)
    with av.open(str(output)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert first.shape == (72, 128, 3)
    # 48x28 is narrower than 16:9: it fills the height at 123x72, centred on black, so
    # columns 0-1 and 125-127 stay dark.
    assert first[:, :2].max() < 40 and first[:, 3:120].max() > 100


def test_output_directory_receives_lossless_png_frames(tmp_path, video_settings):
    clip, frames_dir = tmp_path / "rec.webm", tmp_path / "frames"
    frames_dir.mkdir()
    written = write_clip(clip, seconds=1, fps=FPS)

    transcode(clip, frames_dir, ResizeUpscaler(2), video_settings, None)

    pngs = sorted(frames_dir.glob("*.png"))
    assert len(pngs) == written
    with av.open(str(pngs[0])) as picture:
        first = next(picture.decode(video=0))
        assert (first.width, first.height, picture.streams.video[0].codec_context.name) == (128, 72, "png")


def test_clip_longer_than_the_limit_is_refused_by_its_packets(tmp_path, video_settings):
    clip = tmp_path / "long.webm"
    write_clip(clip, seconds=3.0, audio=False)
    with pytest.raises(BadMedia) as refused:
        probe_clip(clip, video_settings.model_copy(update={"clip_max_seconds": 2.0}))
    assert refused.value.code == "clip_too_long"


def test_clip_with_more_frames_than_the_fps_limit_allows_is_refused(tmp_path, video_settings):
    clip = tmp_path / "fast.webm"
    write_clip(clip, seconds=1.0, fps=30, audio=False)
    with pytest.raises(BadMedia) as refused:
        probe_clip(clip, video_settings.model_copy(update={"clip_max_seconds": 1.0, "clip_max_fps": 10.0}))
    # The rate (frames over the time they span) is checked before the frame budget, which is
    # left for clips whose packets carry no timestamps.
    assert refused.value.code == "frame_rate_too_high"


def rotate_mp4_display(path: Path, out: Path) -> None:
    """Write the display matrix a phone writes for a sideways recording (90 degrees
    clockwise) into the MP4's track header, as raw bytes: PyAV cannot set it."""
    import struct

    data = bytearray(path.read_bytes())
    matrix = data.find(b"tkhd") - 4 + 48  # box start + header, version, times, layer...
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    out.write_bytes(data)


def test_rotation_metadata_is_honoured_and_the_output_is_upright(tmp_path, video_settings):
    stored = tmp_path / "stored.mp4"
    write_clip(stored, seconds=1.0, width=64, height=36)
    sideways = tmp_path / "sideways.mp4"
    rotate_mp4_display(stored, sideways)
    output = tmp_path / "out.mp4"
    transcode(sideways, output, ResizeUpscaler(2), video_settings)

    with av.open(str(stored)) as container:
        first_stored = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(output)) as container:
        first_out = next(container.decode(video=0))
        assert first_out.rotation == 0
        upright = first_out.to_ndarray(format="rgb24")
    assert upright.shape == (128, 72, 3)
    # Displayed clockwise: the stored frame's left column becomes the top row.
    expected = np.rot90(first_stored, -1).astype(float)
    shrunk = upright[::2, ::2].astype(float)
    assert np.abs(shrunk - expected).mean() < 12


@pytest.mark.parametrize("preset", ["ultrafast", "veryfast"])  # veryfast: B-frames, lookahead
def test_each_segment_is_handed_over_as_its_own_mp4_as_soon_as_it_is_encoded(tmp_path, preset):
    video_settings = Settings(encoder_preset=preset, segment_seconds=2.0)
    clip = tmp_path / "rec.webm"
    frames = write_clip(clip, seconds=5, fps=FPS)
    parts = []

    def on_part(part) -> None:
        assert part.path.exists()  # complete and closed when handed over
        with av.open(str(part.path)) as container:
            video = [(float(f.time), f.key_frame) for f in container.decode(video=0)]
        with av.open(str(part.path)) as container:
            audio = [float(f.time) for f in container.decode(audio=0)]
        parts.append((part.index, part.start, video, audio))

    result = transcode(clip, tmp_path / "out.mp4", ResizeUpscaler(2), video_settings, on_part=on_part)

    assert [(index, start) for index, start, _, _ in parts] == [(0, 0.0), (1, 2.0), (2, 4.0)]
    assert sum(len(video) for _, _, video, _ in parts) == frames == result.frames
    for _, _, video, audio in parts:
        assert video[0] == (0.0, True) and not any(key for _, key in video[1:])  # rebased, one keyframe
        # Each part carries the audio of its own seconds, not the encoder's lookahead.
        assert audio[0] == pytest.approx(0.0, abs=0.02)
        assert audio[-1] < video[-1][0] + 1 / FPS



def recorder_like(path: Path, times_ms: list[int], frame_ms: int) -> None:
    """A WebM as MediaRecorder writes it: millisecond timestamps at an uneven rate, every
    frame stamped `frame_ms` long, Opus audio as long as the video."""
    with av.open(str(path), "w", format="webm") as container:
        video = container.add_stream("libvpx", rate=30)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        video.codec_context.time_base = Fraction(1, 1000)
        audio = container.add_stream("libopus", rate=48000, layout="stereo")
        frames = [av.VideoFrame.from_ndarray(moving_pattern(i, 64, 36), format="rgb24") for i in range(len(times_ms))]
        for frame, at in zip(frames, times_ms):
            frame.pts, frame.time_base = at, Fraction(1, 1000)
        for packet in [p for frame in [*frames, None] for p in video.encode(frame)]:
            packet.duration = frame_ms
            container.mux(packet)
        for start in range(0, (times_ms[-1] + frame_ms) * 48, 960):
            tone = av.AudioFrame.from_ndarray(np.full((2, 960), 0.1, np.float32), format="fltp", layout="stereo")
            tone.sample_rate, tone.time_base, tone.pts = 48000, Fraction(1, 48000), start
            container.mux(audio.encode(tone))
        container.mux(audio.encode(None))


@pytest.mark.parametrize("preset", ["ultrafast", "veryfast"])
@pytest.mark.parametrize(("last_ms", "parts"), [(1, 1), (30, 2)])
def test_a_last_frame_on_a_segment_edge_leaves_parts_that_each_carry_audio_and_remux(
    tmp_path, preset, last_ms, parts
):
    """A capture whose last frame lands on a segment edge, 1 ms long as Chrome stamps it,
    ended in a part of that one frame. The video encoder's flush opened it before the AAC
    encoder's last packets (from just before the edge) came out, so they went into it at
    negative times; the packager's MPEG-TS muxer refused it on every retry and the stream
    stalled there (seen in CI through the extension). Now such a frame stays in the part
    before, and a longer last part gets only audio of its own."""
    video_settings = Settings(encoder_preset=preset, segment_seconds=2.0)
    clip = tmp_path / "rec.webm"
    recorder_like(clip, [round(i * 1000 / 23) for i in range(46)] + [2000], frame_ms=last_ms)
    audio_of = {}

    def on_part(part) -> None:
        with av.open(str(part.path)) as container:
            audio_of[part.index] = [packet.pts for packet in container.demux(audio=0) if packet.size]
        remux_part(part.path, tmp_path / f"{part.index}.ts", offset=part.start)  # as the packager does

    transcode(clip, tmp_path / "out.mp4", ResizeUpscaler(2), video_settings, on_part=on_part)

    assert list(audio_of) == list(range(parts))
    for audio in audio_of.values():
        assert audio and audio == sorted(set(audio)), audio  # each packet later than the one before
