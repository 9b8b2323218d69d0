"""The fleet's capacity: workers' throughput records, their freshness, and GET /v1/capacity."""

import time

from rq import Queue
from rq.job import Job

from services.core import keys
from services.core.capacity import Rate, blended, fleet_capacity, mark_seen, record_throughput
from services.core.jobqueue import UPSCALE_QUEUE, enqueue_warm
from services.core.schemas import Enhancement
from services.worker.jobs import warm_size
from services.worker.runner import WARM_HEIGHT, WARM_WIDTH, HeartbeatWorker, served_models, warm_up
from tests.conftest import run_queues


def test_a_clip_replaces_the_warm_up_estimate_and_later_clips_average_in():
    warm = blended(blended(None, 700.0, from_clip=False), 1000.0, from_clip=False)
    assert warm == Rate(input_pixels_per_second=1000.0, clips=0)  # a later warm-up round's best
    first = blended(warm, 400.0, from_clip=True)
    second = blended(first, 800.0, from_clip=True)
    assert (warm.clips, first, second) == (0, Rate(input_pixels_per_second=400.0, clips=1),
                                           Rate(input_pixels_per_second=600.0, clips=2))
    assert blended(second, 5000.0, from_clip=False) == second  # a warm-up never overrides clips


def test_fleet_sums_live_workers_per_mode_tier_and_scale(redis):
    record_throughput(redis, "w1", "anime", "quality", 2, 1_000_000, 2.0)
    record_throughput(redis, "w2", "anime", "quality", 2, 300_000, 1.0)
    record_throughput(redis, "w2", "anime", "fast", 2, 3_000_000, 1.0)
    record_throughput(redis, "w2", "live_action", "quality", 2, 50_000, 1.0)

    fleet = fleet_capacity(redis, stale_seconds=60)

    assert [(r.mode, r.tier, r.scale, r.input_pixels_per_second, r.workers) for r in fleet] == [
        ("anime", "fast", 2, 3_000_000.0, 1), ("anime", "quality", 2, 800_000.0, 2),
        ("live_action", "quality", 2, 50_000.0, 1),
    ]


def test_a_worker_unheard_of_for_the_stale_time_drops_out_and_its_record_is_deleted(redis):
    record_throughput(redis, "gone", "anime", "quality", 2, 1_000_000, 1.0)
    record_throughput(redis, "alive", "anime", "quality", 2, 200_000, 1.0)
    later = time.time() + 100
    redis.hset(keys.redis_capacity_seen(), "alive", str(later))  # its heartbeat went on

    [rate] = fleet_capacity(redis, stale_seconds=60, now=later)

    assert (rate.input_pixels_per_second, rate.workers) == (200_000.0, 1)
    assert redis.hkeys(keys.REDIS_CAPACITY_RATES) == [b"alive"]
    assert redis.hkeys(keys.redis_capacity_seen()) == [b"alive"]
    assert fleet_capacity(redis, stale_seconds=60, now=later + 100) == []


def test_an_idle_worker_stays_in_the_fleet_through_its_rq_heartbeats(redis, settings):
    worker = HeartbeatWorker([Queue(UPSCALE_QUEUE, connection=redis)], connection=redis,
                             ttl=settings.worker_ttl_seconds, name="idle-worker")
    record_throughput(redis, worker.name, "anime", "quality", 2, 100_000, 1.0)
    redis.hset(keys.redis_capacity_seen(), worker.name, "0")  # long unheard of

    worker.heartbeat()

    assert [r.workers for r in fleet_capacity(redis, settings.capacity_stale_seconds)] == [1]


def test_marking_seen_alone_adds_no_capacity(redis):
    mark_seen(redis, "w-without-rates")
    assert fleet_capacity(redis, stale_seconds=60) == []


def test_capacity_endpoint_serves_the_ladder_limits_and_fleet(api, redis, settings):
    assert api.get("/v1/capacity").json()["fleet"] == []
    record_throughput(redis, "w1", "anime", "quality", 2, 460_800, 1.5)

    body = api.get("/v1/capacity").json()

    assert body == {
        "ladder": [144, 240, 360, 480, 720, 1080], "clip_max_pixels": settings.clip_max_pixels,
        "clip_max_fps": settings.clip_max_fps,
        "fleet": [{"mode": "anime", "tier": "quality", "scale": 2, "input_pixels_per_second": 307_200.0,
                   "workers": 1}],
    }
    schema = api.get("/openapi.json").json()
    assert schema["paths"]["/v1/capacity"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CapacityInfo"
    }


def test_a_warm_job_runs_the_model_once_per_size_and_process(redis, settings):
    job = enqueue_warm(redis, settings, "anime", 2, 34, 20, "auto")
    assert job.id == "warm-anime-auto-2-34x20"
    assert enqueue_warm(redis, settings, "anime", 2, 34, 20, "auto").id == job.id  # one queued per size
    assert Queue(UPSCALE_QUEUE, connection=redis).count == 1

    run_queues(redis, UPSCALE_QUEUE)

    assert Job.fetch(job.id, connection=redis).get_status() == "finished"
    for tier in ("quality", "balanced", "fast"):  # every tier a client on auto may pick
        assert warm_size(Enhancement(scale=2, tier=tier), 34, 20, settings) is None  # warm for it
    assert warm_size(Enhancement(scale=2, tier="fast"), 36, 20, settings) is not None  # a new size runs


def test_the_worker_warm_up_measures_every_tier_of_its_modes_before_any_clip(redis, settings):
    warm_up(settings, redis, served_models(settings))

    rates = {rate.tier: rate for rate in fleet_capacity(redis, settings.capacity_stale_seconds)}
    assert sorted(rates) == ["balanced", "fast", "quality"]
    for rate in rates.values():
        assert (rate.mode, rate.scale, rate.workers) == ("anime", settings.default_scale, 1)
        assert rate.input_pixels_per_second > 0
    # the distilled tiers are faster than the teacher, as measured here
    assert rates["fast"].input_pixels_per_second > rates["balanced"].input_pixels_per_second
    assert rates["balanced"].input_pixels_per_second > rates["quality"].input_pixels_per_second
    assert (WARM_WIDTH, WARM_HEIGHT) == (426, 240)
