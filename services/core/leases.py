"""Leases: a Redis lock with an expiry, re-armed from a thread while its holder lives.

A holder that dies stops renewing, so its lease frees itself after its timeout; one that
lives keeps it however long its work takes. The playlist's one writer and the live
follower's one run hold theirs this way.
"""

import logging
from contextlib import AbstractContextManager

from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from services.core.repeating import repeated

log = logging.getLogger(__name__)


def renewed(lock: Lock, name: str) -> AbstractContextManager[None]:
    """Re-arm the held `lock` every third of its timeout until the block ends. The lock must
    be made with `thread_local=False`: the thread renews the token the caller acquired."""

    def renew() -> bool:
        try:
            lock.reacquire()
        except LockError:  # lost (Redis restarted empty, or expired): the holder's next fenced write refuses
            log.warning("event=lease_lost lease=%s", name)
            return False
        except RedisError:  # Redis away for a moment: try again next time
            log.warning("event=lease_not_renewed lease=%s", name, exc_info=True)
        return True

    return repeated(lock.timeout / 3, renew, f"lease-{name}")
