"""Enqueueing once: a job id is queued at most once however many callers ask at the same
moment, against the real Redis and RQ."""

import threading
import time

import pytest
from rq import Queue
from rq.job import Job

from services.core import jobqueue
from services.core.jobqueue import UPSCALE_QUEUE, enqueue_upscale
from services.core.streams import new_stream_id


def test_two_callers_at_once_queue_one_job(settings, redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each caller looks for the job, then enqueues: with the look held open 0.2 s, both
    found none and the job id was queued twice (its upscale would run twice)."""
    fetch = Job.fetch

    def slow_fetch(*args, **kwargs):
        try:
            return fetch(*args, **kwargs)
        finally:
            time.sleep(0.2)

    monkeypatch.setattr(jobqueue.Job, "fetch", slow_fetch)
    stream_id = new_stream_id()
    callers = [threading.Thread(target=enqueue_upscale, args=(redis, settings, stream_id, 0)) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)

    queued = Queue(UPSCALE_QUEUE, connection=redis).get_job_ids()
    assert queued.count(f"upscale-{stream_id}-0") == 1
