"""Liveness, readiness (Redis and S3 reachable) and Prometheus metrics.

`/readyz` is unauthenticated, so it answers only ready or not: which dependency failed,
and why, goes to the log and to the `sharpr_dependency_up` gauge, never to the caller.
"""

import logging

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Response
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from services.api import metrics
from services.api.deps import RedisDep, StoreDep
from services.core.errors import Unavailable

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(redis: RedisDep, store: StoreDep) -> dict[str, str]:
    ready = True
    for dependency, check in (("redis", lambda: run_in_threadpool(redis.ping)), ("s3", store.ping)):
        try:
            await check()
            metrics.DEPENDENCY_UP.labels(dependency).set(1)
        except (RedisError, ClientError, BotoCoreError, OSError) as error:
            metrics.DEPENDENCY_UP.labels(dependency).set(0)
            log.warning("event=not_ready dependency=%s error=%r", dependency, str(error))
            ready = False
    if not ready:
        raise Unavailable("not ready", code="not_ready")
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
def prometheus_metrics(redis: RedisDep) -> Response:
    body, content_type = metrics.render(redis)
    return Response(body, media_type=content_type)
