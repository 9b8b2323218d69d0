"""Publishing a clip's parts as the encoder finishes them (`PartPublisher`)."""

import asyncio
import logging
import time
from pathlib import Path

from redis import Redis

from services.core import keys
from services.core.jobqueue import enqueue_package
from services.core.retention import check_not_deleted
from services.core.schemas import ClipPart
from services.core.settings import Settings
from services.core.storage import open_store
from services.core.streams import StreamStore
from services.media.parts import PartFile

log = logging.getLogger(__name__)


class PartNotPublished(Exception):
    """Storing or recording a part failed: RQ retries the clip, the resize would not help."""


class PartPublisher:
    """Publishes each part of one clip as the encoder finishes it: the MP4 to S3, the part
    onto the clip's record, then a packaging trigger, in that order, so the packager never
    reads a part that is not stored.

    Parts an earlier attempt published are left as they are (the encoder cuts parts on the
    same grid every time), so a retry or the resize fallback adds only the rest.
    """

    def __init__(self, settings: Settings, redis: Redis, store: StreamStore, stream_id: str, seq: int) -> None:
        self.settings, self.redis, self.store = settings, redis, store
        self.stream_id, self.seq = stream_id, seq
        self.published = store.part_counts(stream_id, [seq])[seq]
        self.enhanced = True

    def __call__(self, part: PartFile) -> None:
        if part.index < self.published:
            return
        check_not_deleted(self.store, self.stream_id)  # deleted mid-clip: the job stops here
        try:
            asyncio.run(_upload(self.settings, keys.output_part_key(self.stream_id, self.seq, part.index), part.path))
            self.store.add_part(self.stream_id, self.seq, ClipPart(
                n=part.index, start=part.start, enhanced=self.enhanced, published_at=time.time(),
            ))
            enqueue_package(self.redis, self.settings, self.stream_id, self.seq, part=part.index)
        except Exception as error:
            raise PartNotPublished(f"part {part.index} not published: {error!r}") from error
        self.published = part.index + 1
        check_not_deleted(self.store, self.stream_id)  # deleted while it uploaded: removed again
        log.info("event=part_published stream=%s seq=%d part=%d start=%.3f enhanced=%s",
                 self.stream_id, self.seq, part.index, part.start, self.enhanced)


async def _upload(settings: Settings, key: str, path: Path) -> None:
    async with open_store(settings) as store:
        await store.put_file(key, path)
