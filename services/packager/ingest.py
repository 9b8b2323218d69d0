"""The ingest job's old dotted path, `services.packager.ingest.ingest_video`, kept for one
release.

Ingest jobs queued before URL ingest became a service of its own (`services.ingest`) name
this path in Redis; the ingest runner imports it when it takes one. Delete this module in
the release after the first one that ships `services/ingest/`: an upgrade to that one
starts with no job of the old name left on the queue.
"""

from services.ingest.jobs import ingest_video

__all__ = ["ingest_video"]
