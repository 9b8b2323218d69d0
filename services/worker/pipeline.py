"""decode -> upscale -> encode for one clip, the three stages overlapped.

Decoding and encoding run in their own threads behind bounded queues (PyAV and torch
release the GIL), so the calling thread does little but run the model: the ratio of wall
time to model time is what `bench/` measures. A ticker thread reports progress.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from services.core.framesize import even
from services.core.settings import Settings
from services.media.audio import audio_chunks
from services.media.parts import PartCallback
from services.media.png_frames import PngWriter
from services.media.reader import ClipInfo, FrameBatch, decode_batches
from services.media.writer import VideoWriter
from services.worker.clip_limits import probe_clip
from services.worker.repeats import SkippingUpscaler
from services.worker.upscaler import Upscaler, fit_frames

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
# Given the clip's own output size, the size to write instead (a stream's fixed size).
OutputSize = Callable[[int, int], tuple[int, int]]
DEFAULT_BATCH_SIZE = 4
QUEUE_BATCHES = 3
PROGRESS_INTERVAL = 0.5
_END = None  # queue sentinel: the producer has finished


@dataclass(frozen=True)
class TranscodeResult:
    frames: int
    duration: float  # seconds: last frame's time plus its duration
    width: int
    height: int
    timings: dict[str, float] = field(default_factory=dict)
    input_size: tuple[int, int] = (0, 0)  # the frames the model took, width x height
    frames_skipped: int = 0  # repeats of the frame before: the model did not run on them


class _Stage(threading.Thread):
    """A worker thread that keeps its busy time and hands its exception to the caller."""

    def __init__(self, name: str, work: Callable[["_Stage"], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.work, self.stop = work, stop
        self.busy = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work(self)
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            self.error = error
            self.stop.set()


def _put(channel: "queue.Queue[FrameBatch | None]", item: FrameBatch | None, stop: threading.Event) -> bool:
    """Block while the queue is full, but give up once the pipeline is stopping."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(channel: "queue.Queue[FrameBatch | None]", stop: threading.Event) -> FrameBatch | None:
    while not stop.is_set():
        try:
            return channel.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def transcode(
    input_path: Path, output_path: Path, upscaler: Upscaler, settings: Settings,
    on_progress: ProgressCallback | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
    output_size: OutputSize | None = None,
    on_part: PartCallback | None = None,
) -> TranscodeResult:
    """Upscale a clip into an MP4 (or PNG frames when `output_path` is a directory), its
    frames resized to `output_size`'s answer when that differs from the upscaled size.

    With `on_part`, each segment is also handed over as its own MP4 (in a folder beside
    `output_path`) the moment it is encoded, from the encoding thread; an exception there
    stops the clip. Raises BadMedia before any work if the clip is not a video the worker
    may process.
    """
    started = time.perf_counter()
    info = probe_clip(input_path, settings)
    skipping = SkippingUpscaler(upscaler, settings.repeated_frame_threshold)
    model_step = skipping if settings.skip_repeated_frames else upscaler
    upright_width, upright_height = info.upright_size
    width, height = upright_width * upscaler.scale, upright_height * upscaler.scale
    if output_size is not None:
        width, height = output_size(even(width), even(height))
    if output_path.is_dir():
        writer: VideoWriter | PngWriter = PngWriter(output_path, width, height)
    else:
        audio = audio_chunks(input_path, info.start) if info.has_audio else iter(())
        parts = None
        if on_part is not None:
            parts = output_path.with_name(f"{output_path.stem}-parts")
            parts.mkdir(exist_ok=True)
        writer = VideoWriter(
            output_path, width, height, keyframe_seconds=settings.segment_seconds,
            preset=settings.encoder_preset, audio=audio, parts=parts, on_part=on_part,
            frame_rate=Fraction(1 / info.frame_duration).limit_denominator(1001),
        )
    stop = threading.Event()
    decoded: queue.Queue[FrameBatch | None] = queue.Queue(QUEUE_BATCHES)
    upscaled: queue.Queue[FrameBatch | None] = queue.Queue(QUEUE_BATCHES)
    state = {"frames": 0, "end": 0.0}

    def decode(stage: _Stage) -> None:
        batches = decode_batches(input_path, info, batch_size)
        try:
            while True:
                begun = time.perf_counter()
                batch = next(batches, _END)
                stage.busy += time.perf_counter() - begun
                if not _put(decoded, batch, stop) or batch is _END:
                    return
        finally:
            batches.close()  # closes the container when the pipeline stops early

    def encode(stage: _Stage) -> None:
        last: FrameBatch | None = None
        last_duration: float | None = None
        while (batch := _get(upscaled, stop)) is not _END:
            begun = time.perf_counter()
            writer.write(batch)
            stage.busy += time.perf_counter() - begun
            state["frames"] += len(batch.times)
            last = batch if batch.times else last
            last_duration = batch.last_duration if batch.last_duration is not None else last_duration
        if stop.is_set():
            return
        begun = time.perf_counter()
        state["end"] = _end_time(last, last_duration, info)
        writer.close(state["end"])
        stage.busy += time.perf_counter() - begun

    decoder = _Stage("decode", decode, stop)
    encoder = _Stage("encode", encode, stop)
    ticker = _Ticker(lambda: (state["frames"], info.frames), on_progress)
    model = 0.0
    try:
        try:
            decoder.start()
            encoder.start()
            ticker.start()
            loop_start = time.perf_counter()
            for batch in _batches(decoded, stop):
                begun = time.perf_counter()
                frames = model_step.upscale(batch.frames) if batch.times else batch.frames
                model += time.perf_counter() - begun
                if output_size is not None and batch.times:
                    frames = fit_frames(frames, width, height)
                if batch.times and frames.shape[1:3] != (height, width):
                    raise ValueError(
                        f"upscaler {upscaler.name} returned {frames.shape}, expected {height}x{width}"
                    )
                if not _put(upscaled, FrameBatch(frames, batch.times, batch.last_duration), stop):
                    break
            upscale_done = time.perf_counter()
            _put(upscaled, _END, stop)
            encoder.join()
        finally:
            stop.set()  # a no-op after success; after an error it releases both threads
            ticker.finish()
            decoder.join()
            encoder.join()
        error = decoder.error or encoder.error
        if error is not None:
            raise error
    except BaseException:
        writer.abort()  # only once no thread touches the writer any more
        raise
    wall = time.perf_counter() - started
    if on_progress is not None:
        on_progress(state["frames"], max(info.frames, state["frames"]))
    result = TranscodeResult(
        frames=state["frames"], duration=state["end"], width=writer.width, height=writer.height,
        frames_skipped=skipping.skipped, timings={
            "decode": decoder.busy, "upscale": upscale_done - loop_start, "encode": encoder.busy,
            "model": model, "wall": wall,
        },
        input_size=(upright_width, upright_height),
    )
    log.info(
        "event=transcoded input=%s frames=%d skipped=%d duration=%.3f size=%dx%d upscaler=%s "
        "wall=%.3f model=%.3f",
        input_path.name, result.frames, result.frames_skipped, result.duration, result.width,
        result.height, upscaler.name, wall, model,
    )
    return result


def _batches(channel: "queue.Queue[FrameBatch | None]", stop: threading.Event) -> Iterator[FrameBatch]:
    while (batch := _get(channel, stop)) is not _END:
        yield batch


def _end_time(last: FrameBatch | None, last_duration: float | None, info: ClipInfo) -> float:
    """Where the video ends: the last frame's time plus its own duration (or the last gap)."""
    if last is None:
        return 0.0
    if last_duration is None:
        gaps = last.times[-1] - last.times[-2] if len(last.times) > 1 else 0.0
        last_duration = gaps if gaps > 0 else info.frame_duration
    return last.times[-1] + last_duration


class _Ticker(threading.Thread):
    """Calls `on_progress` every PROGRESS_INTERVAL seconds until finished."""

    def __init__(self, read: Callable[[], tuple[int, int]], on_progress: ProgressCallback | None) -> None:
        super().__init__(name="progress", daemon=True)
        self.read, self.on_progress = read, on_progress
        self.done = threading.Event()

    def run(self) -> None:
        while self.on_progress is not None and not self.done.wait(PROGRESS_INTERVAL):
            try:
                self.on_progress(*self.read())
            except Exception:  # progress is advisory: never let it stop the clip
                log.exception("event=progress_failed")

    def finish(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join()
