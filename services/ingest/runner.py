"""The ingest process: an RQ worker on the "ingest" queue only.

An ingest may fetch and re-encode a whole video, so it runs apart from the packager,
which must turn every finished clip into segments at once; each scales on its own queue.
A forking `Worker` is safe here: ingest imports no torch and no CUDA.
"""

from services.core.jobqueue import FOLLOW_JOB, INGEST_JOB, INGEST_QUEUE
from services.core.settings import Settings
from services.core.workloop import work_queue_forking


def run_ingest(settings: Settings, burst: bool = False) -> None:
    """Work jobs until stopped (or, with `burst`, until the queue is empty)."""
    work_queue_forking(settings, INGEST_QUEUE, (INGEST_JOB, FOLLOW_JOB), burst=burst)
