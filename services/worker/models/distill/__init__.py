"""Distilling the fast tiers from the teachers we ship: `python -m services.worker.models.distill`.

The recipes below are the committed weights' exact commands (docs/MODELS.md, "Retraining").
"""

from services.core.schemas import Mode, Tier
from services.worker.models.catalog import STUDENTS
from services.worker.models.distill.train import Recipe

# Patches: the anime teacher is cheap, so it labels more; realesrgan-x4plus takes ~0.5 s a
# 64x64 patch on two cores, which bounds its set. Steps: each run within 30 min on 2 cores.
PATCHES = {Mode.anime: 4096, Mode.live_action: 1536}
STEPS = {Tier.balanced: 5000, Tier.fast: 8000}
# Loss and peak learning rate. realesrgan-x4plus's outputs (deblocked, denoised, with
# invented texture) are far from its inputs, and by L1 the nearest-neighbour enlargement
# the student's skip starts from is nearly as close to them as anything smooth: under L1
# (at 2e-3, 1e-3 or 5e-4) the live-action student stayed there, 0.6 dB under bicubic after
# 1,500 steps. Under MSE (what PSNR measures) it passed bicubic within 200 steps.
LOSS = {Mode.anime: "l1", Mode.live_action: "mse"}
LEARNING_RATE = {Mode.anime: 2e-3, Mode.live_action: 1e-3}


def recipe(mode: Mode, tier: Tier) -> Recipe:
    num_feat, num_conv = STUDENTS[tier]
    return Recipe(mode=str(mode), tier=str(tier), num_feat=num_feat, num_conv=num_conv,
                  steps=STEPS[tier], patches=PATCHES[mode], lr=LEARNING_RATE[mode],
                  loss=LOSS[mode])  # fmt: skip
