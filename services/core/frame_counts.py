"""Fleet-wide totals of frames enhanced, by whether the model ran or a repeat was reused.

Workers add each clip's counts to one Redis hash when the clip is encoded; the API reads
it at scrape time for Prometheus, since workers serve no metrics of their own.
"""

from redis import Redis

from services.core import keys

MODEL = "model"
SKIPPED = "skipped"


def add_frame_counts(redis: Redis, *, model: int, skipped: int) -> None:
    pipe = redis.pipeline(transaction=False)
    pipe.hincrby(keys.REDIS_FRAME_COUNTS, MODEL, model)
    pipe.hincrby(keys.REDIS_FRAME_COUNTS, SKIPPED, skipped)
    pipe.execute()


def read_frame_counts(redis: Redis) -> dict[str, int]:
    raw = redis.hgetall(keys.REDIS_FRAME_COUNTS)
    counts = {key.decode(): int(value) for key, value in raw.items()}
    return {MODEL: counts.get(MODEL, 0), SKIPPED: counts.get(SKIPPED, 0)}
