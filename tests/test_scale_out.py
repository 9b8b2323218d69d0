"""Workers and packagers as separate processes on one machine share the queues.

Each service is a real `sharpr` process against this test's own Redis and S3; clips are
queued the way the API queues them. Which worker ran which clip is read from RQ's own
records in Redis (its registries and each job's results), not from the services' logs.
Slow (model warm-up per worker), so marked `faults`.
"""

import signal

import pytest
from rq import Queue, Worker
from rq.job import Job
from rq.results import Result

from services.core.jobqueue import UPSCALE_JOB, UPSCALE_QUEUE
from services.core.settings import get_settings
from services.core.stream_transitions import end_stream
from tests.cluster import Cluster, send_clips, wait_for, wait_until_ended
from tests.media import write_clip
from tests.stream_checks import assert_complete_playlist

pytestmark = pytest.mark.faults

FPS = 15


def upscale_queue(cluster: Cluster) -> Queue:
    return Queue(UPSCALE_QUEUE, connection=cluster.redis())


def start_workers(cluster: Cluster, names: list[str]) -> dict[str, str]:
    """Start `sharpr worker` processes; RQ's name for each (Worker.all) -> its name here."""
    for name in names:
        cluster.run(name, "worker")
    upscale = upscale_queue(cluster)
    wait_for(lambda: len(Worker.all(queue=upscale)) == len(names), 90, "workers registered")
    ours = {cluster.services[name].pid: name for name in names}
    return {worker.name: ours[worker.pid] for worker in Worker.all(queue=upscale)}


def upscale_runs(cluster: Cluster, workers: dict[str, str]) -> dict[str, list[tuple[str, int]]]:
    """(stream, seq) of every upscale each worker finished: the upscale jobs in the queue's
    FinishedJobRegistry, and the worker RQ named on each successful result of each."""
    runs: dict[str, list[tuple[str, int]]] = {name: [] for name in workers.values()}
    redis = cluster.redis()
    for job_id in upscale_queue(cluster).finished_job_registry.get_job_ids():
        job = Job.fetch(job_id, connection=redis)
        if job.func_name != UPSCALE_JOB:
            continue  # a warm-up
        stream_id, seq = job.args
        for result in job.results():
            if result.type == Result.Type.SUCCESSFUL:
                runs[workers[result.worker_name]].append((stream_id, seq))
    return runs


def test_two_workers_and_two_packagers_process_every_clip_exactly_once(cluster, tmp_path):
    settings = get_settings()
    streams = cluster.streams(settings)
    workers = start_workers(cluster, ["worker-a", "worker-b"])
    cluster.run("packager-a", "packager")
    cluster.run("packager-b", "packager")
    clip = tmp_path / "clip.webm"
    write_clip(clip, seconds=2.0, width=64, height=36, fps=FPS)

    ids = [send_clips(settings, streams, {seq: clip for seq in range(3)}).id for _ in range(2)]
    for stream_id in ids:
        end_stream(streams, settings, streams.get_stream(stream_id))
    for stream_id in ids:
        wait_until_ended(streams, stream_id, timeout=90)

    runs = upscale_runs(cluster, workers)
    every_run = runs["worker-a"] + runs["worker-b"]
    assert sorted(every_run) == sorted((s, seq) for s in ids for seq in range(3)), runs
    assert all(runs.values()), f"one worker took every clip: {runs}"
    for stream_id in ids:
        assert_complete_playlist(settings, stream_id, {seq: 2.0 for seq in range(3)}, FPS)


def test_clip_of_a_worker_killed_mid_clip_is_run_again_and_the_stream_completes(cluster, tmp_path):
    settings = get_settings()
    streams = cluster.streams(settings)
    workers = start_workers(cluster, ["worker-a", "worker-b"])
    cluster.run("packager", "packager")
    long_clip, short_clip = tmp_path / "long.webm", tmp_path / "short.webm"
    write_clip(long_clip, seconds=6.0, width=96, height=54, fps=FPS)
    write_clip(short_clip, seconds=2.0, width=64, height=36, fps=FPS)

    stream = send_clips(settings, streams, {0: long_clip, 1: short_clip})
    end_stream(streams, settings, stream)
    wait_for(lambda: streams.get_clip(stream.id, 0).frames_done > 0, 60, "clip 0 started", interval=0.05)
    job = Job.fetch(f"upscale-{stream.id}-0", connection=cluster.redis())
    assert job in upscale_queue(cluster).started_job_registry
    victim = workers[job.worker_name]
    assert streams.get_clip(stream.id, 0).frames_done < streams.get_clip(stream.id, 0).frames_total
    cluster.kill(victim)

    wait_until_ended(streams, stream.id, timeout=90)
    survivor = "worker-b" if victim == "worker-a" else "worker-a"
    runs = upscale_runs(cluster, workers)
    assert (stream.id, 0) not in runs[victim]
    assert (stream.id, 0) in runs[survivor]
    assert not streams.get_clip(stream.id, 0).degraded
    assert_complete_playlist(settings, stream.id, {0: 6.0, 1: 2.0}, FPS)


def test_sigterm_lets_a_worker_finish_its_clip_then_exit(cluster, tmp_path):
    """What a pod deletion or a KEDA scale-down does: the clip in hand is finished, not lost."""
    settings = get_settings()
    streams = cluster.streams(settings)
    workers = start_workers(cluster, ["worker"])
    clip = tmp_path / "clip.webm"
    write_clip(clip, seconds=4.0, width=96, height=54, fps=FPS)

    stream = send_clips(settings, streams, {0: clip})
    wait_for(lambda: streams.get_clip(stream.id, 0).frames_done > 0, 60, "clip started", interval=0.05)
    worker = cluster.services["worker"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(120) == 0
    assert streams.get_clip(stream.id, 0).state == "encoded"
    assert upscale_runs(cluster, workers) == {"worker": [(stream.id, 0)]}
