"""What the fleet keeps up with: the capture ladder, the clip limits and measured throughput."""

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.api.deps import RedisDep, SettingsDep
from services.api.schemas import CapacityInfo
from services.core.capacity import fleet_capacity
from services.core.framesize import LADDER

router = APIRouter(prefix="/v1/capacity", tags=["capacity"])


@router.get("")
async def get_capacity(settings: SettingsDep, redis: RedisDep) -> CapacityInfo:
    """No token needed: a client asks before it creates a stream, to choose its capture size."""
    fleet = await run_in_threadpool(fleet_capacity, redis, settings.capacity_stale_seconds)
    return CapacityInfo(
        ladder=list(LADDER), clip_max_pixels=settings.clip_max_pixels,
        clip_max_fps=settings.clip_max_fps, fleet=fleet,
    )
