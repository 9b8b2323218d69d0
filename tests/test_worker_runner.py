"""`sharpr worker` in burst mode: the model warms up once, then the worker runs the queued clips."""

from rq import Queue

from services.core import keys
from services.core.jobqueue import PACKAGE_QUEUE
from services.core.schemas import ClipState
from services.worker.runner import run_worker
from tests.media import write_clip
from tests.worker_clips import head, registered_clip


def test_burst_worker_upscales_queued_clips_with_the_warm_model(settings, redis, tmp_path):
    clip_file = tmp_path / "rec.webm"
    write_clip(clip_file, seconds=1, fps=15)
    store, stream_id = registered_clip(settings, redis, tmp_path, clip_file)

    run_worker(settings, burst=True)

    clip = store.get_clip(stream_id, 0)
    assert (clip.state, clip.degraded) == (ClipState.encoded, False)
    assert head(settings, keys.output_part_key(stream_id, 0, 0)) is not None
    assert Queue(PACKAGE_QUEUE, connection=redis).job_ids == [f"package-{stream_id}-0-0", f"package-{stream_id}-0"]
