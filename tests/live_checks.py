"""What a live source's enhanced stream must hold, checked on the bucket and the origin."""

from pathlib import Path

import av
import m3u8
import numpy as np
from botocore.exceptions import ClientError

from services.core import keys
from services.core.settings import Settings
from tests.live_hls_server import LiveSite, SourceSegment
from tests.stream_checks import object_bytes


def decode_rgb(data: bytes, path: Path) -> list[np.ndarray]:
    path.write_bytes(data)
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def playlist(settings: Settings, key: str) -> m3u8.M3U8 | None:
    try:
        return m3u8.loads(object_bytes(settings, key).decode())
    except ClientError as error:  # not written yet
        if error.response["Error"]["Code"] != "NoSuchKey":
            raise
        return None


def assert_same_frames(settings: Settings, stream_id: str, clip: Path, taken: list[SourceSegment], tmp_path: Path) -> None:
    """The enhanced stream holds the taken segments' frames once each, in order, and lasts
    as long (within 2%)."""
    enhanced = playlist(settings, keys.playlist_key(stream_id))
    names = [segment.uri for segment in enhanced.segments]
    assert len(names) == len(set(names)), f"repeated segments: {names}"
    seqs = sorted({int(Path(name).stem.split("_")[0]) for name in names})
    assert seqs == list(range(len(taken))), f"missing clips: {names}"
    body = b"".join(object_bytes(settings, keys.hls_prefix(stream_id) + name) for name in names)
    frames = decode_rgb(body, tmp_path / "enhanced.ts")
    published = sum(segment.frames for segment in taken)
    assert abs(len(frames) - published) <= 0.02 * published, (len(frames), published)
    seconds = sum(segment.duration for segment in enhanced.segments)
    assert abs(seconds - sum(s.duration for s in taken)) <= 0.02 * sum(s.duration for s in taken)
    source = decode_rgb(clip.read_bytes(), tmp_path / "source.mp4")  # the taken ones start it
    height, width = source[0].shape[:2]
    matched = []
    for frame in frames:
        small = frame.reshape(height, 2, width, 2, 3).mean(axis=(1, 3))  # scale 2
        matched.append(int(np.argmin([np.mean((small - original) ** 2) for original in source])))
    in_place = sum(found == index for index, found in enumerate(matched))
    assert in_place >= 0.98 * len(frames), matched
    assert matched == sorted(matched), "frames out of order"


def requested_once(site: LiveSite, taken: list[SourceSegment], again: frozenset[str] = frozenset()) -> None:
    """Each taken segment was fetched once (those in `again`: at most twice, the retry of a
    run killed while fetching it)."""
    counts = {segment.name: 0 for segment in taken}
    for _, path in site.requests:
        name = path.lstrip("/")
        if name in counts:
            counts[name] += 1
    assert all(count == 1 or (name in again and count == 2) for name, count in counts.items()), counts
