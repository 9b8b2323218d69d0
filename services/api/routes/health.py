"""Liveness, readiness (Redis and S3 reachable) and Prometheus metrics."""

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from services.api import metrics
from services.api.deps import RedisDep, StoreDep
from services.core.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(redis: RedisDep, store: StoreDep) -> dict[str, str]:
    try:
        await run_in_threadpool(redis.ping)
    except Exception as error:
        raise Unavailable(f"Redis unreachable: {error}", code="redis_unavailable") from error
    try:
        await store.ping()
    except Exception as error:
        raise Unavailable(f"S3 unreachable: {error}", code="s3_unavailable") from error
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
def prometheus_metrics(redis: RedisDep) -> Response:
    body, content_type = metrics.render(redis)
    return Response(body, media_type=content_type)
