"""Leases: a Redis lock with an expiry, re-armed from a thread while its holder lives.

A holder that dies stops renewing, so its lease frees itself after its timeout; one that
lives keeps it however long its work takes. The playlist's one writer and the live
follower's one run hold theirs this way.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)


@contextmanager
def renewed(lock: Lock, name: str) -> Iterator[None]:
    """Re-arm the held `lock` every third of its timeout until the block ends. The lock must
    be made with `thread_local=False`: the thread renews the token the caller acquired."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lock.timeout / 3):
            try:
                lock.reacquire()
            except LockError:  # lost (Redis restarted empty, or expired): the holder's next fenced write refuses
                log.warning("event=lease_lost lease=%s", name)
                return
            except RedisError:  # Redis away for a moment: try again next time
                log.warning("event=lease_not_renewed lease=%s", name, exc_info=True)

    thread = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
