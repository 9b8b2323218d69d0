"""Which network tiers exist, which a stream may run at, and the order clients give way in.

Every client (the extension's `lib/capture-size.js`, the live follower, bench/realtime)
chooses in the same order: the largest size with the best tier that keeps up; then a
faster tier; then a smaller size (at the fastest tier); then a lower frame rate. Each
step down is cheaper than the one above it, so adapting one step at a time always lightens
the load. Pure: no Redis, no torch.
"""

from collections.abc import Callable, Sequence
from typing import TypeVar

from services.core.schemas import TIERS, Enhancement, Mode, Tier

# The distilled tiers are native x2 networks; at x3 and x4 every tier is the teacher.
STUDENT_SCALE = 2

Size = TypeVar("Size")


def tiers_at(scale: int) -> tuple[Tier, ...]:
    """The tiers that are networks of their own at `scale`, best first."""
    return TIERS if scale == STUDENT_SCALE else (Tier.quality,)


def stream_tiers(mode: Mode, scale: int) -> tuple[Tier, ...]:
    """The tiers a stream on auto may run at, best first: realesrgan-x4plus keeps up on no
    CPU or single GPU, so where the content may be live action the ladder starts below it."""
    tiers = tiers_at(scale)
    return tiers if mode == Mode.anime or len(tiers) == 1 else tiers[1:]


def served_tier(tier: Tier, scale: int) -> Tier:
    """The tier that really runs: one with no network of its own at `scale` is the teacher."""
    return tier if tier in tiers_at(scale) else Tier.quality


def allowed_tiers(enhancement: Enhancement) -> tuple[Tier, ...]:
    """The stream's own tier, or on auto every tier a stream may run at."""
    if enhancement.tier == Tier.auto:
        return stream_tiers(enhancement.mode, enhancement.scale)
    return (served_tier(enhancement.tier, enhancement.scale),)


def ladder(sizes: Sequence[Size], tiers: Sequence[Tier]) -> list[tuple[Size, Tier]]:
    """Every (size, tier) step, dearest first: the first size (the largest) at each tier,
    best first, then every smaller size at the fastest tier."""
    if not sizes or not tiers:
        return []
    return [(sizes[0], tier) for tier in tiers] + [(size, tiers[-1]) for size in sizes[1:]]


def first_fit(
    steps: Sequence[tuple[Size, Tier]], pixel_rate: Callable[[Size], float], rates: dict[Tier, float],
) -> int | None:
    """The index of the first step whose pixel rate its tier's measured rate covers; None
    when none does (a tier not measured covers nothing)."""
    for index, (size, tier) in enumerate(steps):
        if tier in rates and pixel_rate(size) <= rates[tier]:
            return index
    return None
