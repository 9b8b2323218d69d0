"""Where things live: object keys in the bucket and key names in Redis.

One place builds every name, so the API, the worker and the packager cannot disagree.
"""

import re

STREAM_ID_RE = re.compile(r"^[a-z0-9]{20,40}$")
INPUT_EXTENSIONS = ("webm", "mp4")
SEGMENT_EXTENSION = "ts"
REDIS_PREFIX = "sharpr"
# Relative to the playlists, so `original.m3u8` names its segments "original/<name>".
ORIGINAL_SEGMENT_FOLDER = "original/"

# Fleet-wide Redis keys.
# Sorted set of stream ids by the time of their last clip or state change: the
# sweep's index of idle and expired streams.
REDIS_STREAM_ACTIVITY = f"{REDIS_PREFIX}:streams:activity"
# Hash of frames enhanced by the whole fleet: model-run and skipped repeats.
REDIS_FRAME_COUNTS = f"{REDIS_PREFIX}:frames"
# Hash: worker name -> its measured throughput per mode and scale (JSON).
REDIS_CAPACITY_RATES = f"{REDIS_PREFIX}:capacity:rates"


def stream_prefix(stream_id: str) -> str:
    return f"streams/{stream_id}/"


def input_key(stream_id: str, seq: int, ext: str) -> str:
    if ext not in INPUT_EXTENSIONS:
        raise ValueError(f"unsupported clip extension {ext!r}")
    return f"streams/{stream_id}/input/{seq:06d}.{ext}"


def output_part_key(stream_id: str, seq: int, n: int) -> str:
    """Part `n` of the upscaled clip: one segment's worth, stored as soon as it is encoded."""
    return f"streams/{stream_id}/output/{seq:06d}_{n:03d}.mp4"


def hls_prefix(stream_id: str) -> str:
    return f"streams/{stream_id}/hls/"


def segment_name(seq: int, n: int) -> str:
    """A segment's file name, relative to the playlist."""
    return f"{seq:06d}_{n:03d}.{SEGMENT_EXTENSION}"


def segment_key(stream_id: str, seq: int, n: int) -> str:
    return hls_prefix(stream_id) + segment_name(seq, n)


def playlist_key(stream_id: str) -> str:
    return hls_prefix(stream_id) + "index.m3u8"


def original_playlist_key(stream_id: str) -> str:
    return hls_prefix(stream_id) + "original.m3u8"


def original_segment_key(stream_id: str, name: str) -> str:
    """A segment of the original playlist: beside it, in its own folder, so its names
    (from `segment_name`) never meet the enhanced playlist's."""
    return hls_prefix(stream_id) + ORIGINAL_SEGMENT_FOLDER + name


def download_key(stream_id: str) -> str:
    return f"streams/{stream_id}/enhanced.mp4"


def source_key(stream_id: str) -> str:
    """A whole video uploaded for server-side ingest (any container; PyAV probes it)."""
    return f"streams/{stream_id}/source"


def parse_input_key(stream_id: str, key: str) -> tuple[int, str] | None:
    """(seq, ext) if `key` is a clip key inside this stream's input prefix, else None."""
    match = re.fullmatch(
        rf"streams/{re.escape(stream_id)}/input/(\d{{6}})\.({'|'.join(INPUT_EXTENSIONS)})", key
    )
    return (int(match[1]), match[2]) if match else None


# Redis keys
def redis_stream(stream_id: str) -> str:
    return f"{REDIS_PREFIX}:stream:{stream_id}"


def redis_clip(stream_id: str, seq: int) -> str:
    return f"{REDIS_PREFIX}:stream:{stream_id}:clip:{seq}"


def redis_clip_pattern(stream_id: str) -> str:
    """`redis_clip` with the seq as `*`, for SORT ... GET."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:clip:*"


def redis_clip_parts(stream_id: str, seq: int) -> str:
    """Hash of the clip's published parts, part number -> `ClipPart` JSON. Apart from the
    clip's record so the worker adds parts while its progress writes go on."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:parts:{seq}"


def redis_clip_index(stream_id: str) -> str:
    """Sorted set of registered clip seqs."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:clips"


def redis_playlist_record(stream_id: str) -> str:
    """The playlist record: what the stream's published playlist holds."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:hls"


def redis_upload_ledger(stream_id: str) -> str:
    """Hash of clip seq -> bytes charged against the stream's storage budget."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:uploads"



def parse_stream_prefix(key: str) -> str | None:
    """The stream id of an object key under `streams/`, or None."""
    match = re.match(r"streams/([a-z0-9]{20,40})/", key)
    return match[1] if match else None



def redis_live_source(stream_id: str) -> str:
    """The live source a stream follows: where it is, what was taken (`LiveSource` JSON)."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:live"


def redis_live_lease(stream_id: str) -> str:
    """Held by the one follower run of a live stream at a time."""
    return f"{REDIS_PREFIX}:lock:live:{stream_id}"


def redis_stream_lock(stream_id: str) -> str:
    return f"{REDIS_PREFIX}:lock:stream:{stream_id}"


def redis_deleted(stream_id: str) -> str:
    """Set when a stream is removed, so jobs still running for it stop writing."""
    return f"{REDIS_PREFIX}:deleted:{stream_id}"


def redis_enqueue_lock(job_id: str) -> str:
    """Held while one caller checks for RQ job `job_id` and enqueues it."""
    return f"{REDIS_PREFIX}:lock:enqueue:{job_id}"


def redis_stream_output(stream_id: str) -> str:
    """The stream's output size ("WxH"), set once: at creation or by its first clip."""
    return f"{REDIS_PREFIX}:stream:{stream_id}:output"



def redis_capacity_seen() -> str:
    """Hash: worker name -> when it was last heard of (unix time)."""
    return f"{REDIS_PREFIX}:capacity:seen"
