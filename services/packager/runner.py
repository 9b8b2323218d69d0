"""The packager process: an RQ worker on the "package" queue only.

URL ingest has a service of its own (`services.ingest`), so a long ingest never holds up
a live stream's playlist. A forking `Worker` is safe here: the packager imports no torch
and no CUDA. It never imports the worker service; jobs arrive by dotted path.
"""

from services.core.jobqueue import PACKAGE_JOB, PACKAGE_QUEUE, SWEEP_JOB
from services.core.settings import Settings
from services.core.workloop import work_queue_forking


def run_packager(settings: Settings, burst: bool = False) -> None:
    """Work jobs until stopped (or, with `burst`, until the queue is empty)."""
    work_queue_forking(settings, PACKAGE_QUEUE, (PACKAGE_JOB, SWEEP_JOB), burst=burst)
