"""Model tiers: which exist, which a clip runs at, the committed students, and their training.

The students are checked against their teachers on real frames of the evaluation set (a
crop, so realesrgan-x4plus takes seconds); bench/tiers.py measures them in full.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bench.eval_set import eval_frames, psnr
from services.core.schemas import TIERS, Clip, Enhancement, Mode, Stream, Tier
from services.core.settings import Settings
from services.core.tiers import (
    allowed_tiers,
    first_fit,
    ladder,
    served_tier,
    stream_tiers,
    tiers_at,
)
from services.worker.models import network_backend, teacher_backend
from services.worker.models.catalog import STUDENT_WEIGHTS, STUDENTS, model_for
from services.worker.models.compact import SRVGGNetCompact, compact_from_state_dict
from services.worker.models.distill.train import Recipe, train
from services.worker.models.torch_backend import Placement
from services.worker.upscaler import ResizeUpscaler, clip_enhancement, load_upscaler

STUDENT_TIERS = TIERS[1:]
# How far above bicubic each student must stay on every crop: measured +0.66 dB (anime) and
# +0.29 dB (live action, Big Buck Bunny's crop) at the least with the committed weights.
MARGIN_DB = {Mode.anime: 0.5, Mode.live_action: 0.2}


def test_every_tier_is_a_network_of_its_own_only_at_x2():
    assert tiers_at(2) == (Tier.quality, Tier.balanced, Tier.fast)
    assert tiers_at(3) == tiers_at(4) == (Tier.quality,)
    assert served_tier(Tier.fast, 3) == Tier.quality and served_tier(Tier.fast, 2) == Tier.fast


def test_auto_never_runs_a_stream_that_may_be_live_action_on_realesrgan_x4plus():
    assert stream_tiers(Mode.anime, 2) == (Tier.quality, Tier.balanced, Tier.fast)
    assert stream_tiers(Mode.live_action, 2) == stream_tiers(Mode.auto, 2) == (Tier.balanced, Tier.fast)
    assert stream_tiers(Mode.live_action, 4) == (Tier.quality,)  # nothing else exists at x4
    assert allowed_tiers(Enhancement(mode=Mode.live_action, tier=Tier.quality)) == (Tier.quality,)
    assert allowed_tiers(Enhancement(mode=Mode.anime, scale=3, tier=Tier.fast)) == (Tier.quality,)


def test_the_ladder_gives_way_in_the_clients_order():
    steps = ladder([720, 360, 144], (Tier.quality, Tier.balanced, Tier.fast))
    assert steps == [(720, Tier.quality), (720, Tier.balanced), (720, Tier.fast), (360, Tier.fast),
                     (144, Tier.fast)]
    rates = {Tier.quality: 100.0, Tier.balanced: 400.0, Tier.fast: 500.0}
    assert first_fit(steps, float, rates) == 3  # 720 is more than fast's 500; 360 fits at fast
    assert first_fit(steps, float, {**rates, Tier.balanced: 720.0}) == 1
    assert first_fit(steps, float, {Tier.quality: 800.0}) == 0
    assert first_fit(steps, float, {Tier.fast: 100.0}) is None
    assert ladder([], TIERS) == []


def stream(enhancement: Enhancement, *, source_url: str | None = None, live_source: bool = False) -> Stream:
    return Stream(id="s", token_hash="h", enhancement=enhancement, created_at=0.0, source_url=source_url,
                  live_source=live_source)


@pytest.mark.parametrize(("enhancement", "kind", "chosen", "runs"), [
    (Enhancement(tier=Tier.balanced), {}, Tier.fast, Tier.balanced),  # the stream's own tier wins
    (Enhancement(), {}, Tier.fast, Tier.fast),  # auto: the client's choice for the clip
    (Enhancement(), {}, None, Tier.quality),  # auto, anime, no choice: the teacher
    (Enhancement(mode=Mode.live_action), {}, None, Tier.balanced),  # never x4plus for a stream
    (Enhancement(mode=Mode.auto), {"source_url": "https://x/live.m3u8", "live_source": True}, None,
     Tier.balanced),
    (Enhancement(mode=Mode.live_action), {"source_url": "https://x/v.mp4"}, None, Tier.quality),  # a file
    (Enhancement(scale=4), {}, Tier.fast, Tier.quality),  # no distilled x4
])
def test_a_clip_runs_at_the_stream_tier_else_the_clients_choice_else_the_best_that_can_keep_up(
    enhancement, kind, chosen, runs
):
    clip = Clip(stream_id="s", seq=0, key="k", tier=chosen)
    assert clip_enhancement(stream(enhancement, **kind), clip).tier == runs


@pytest.mark.parametrize("mode", [Mode.anime, Mode.live_action])
@pytest.mark.parametrize("tier", STUDENT_TIERS)
def test_each_student_is_committed_small_with_its_card(mode, tier):
    spec = model_for(mode, 2, tier)
    assert spec.weights is not None and spec.weights.parent == STUDENT_WEIGHTS
    assert spec.weights.stat().st_size < 400_000
    net = compact_from_state_dict(load_file(spec.weights))
    assert (net.upscale, net.body[0].out_channels, len(net.body) // 2 - 1) == (2, *STUDENTS[tier])
    facts = json.loads(spec.weights.with_suffix(".json").read_text())
    assert facts["recipe"]["mode"] == mode and facts["recipe"]["tier"] == tier
    card = spec.weights.with_suffix(".md").read_text()
    for needed in ("Teacher", "Data", "Command", "Steps", "Wall time", "Fidelity", "Speed",
                   f"--mode {mode} --tier {tier}"):
        assert needed in card, f"{spec.weights.with_suffix('.md').name} lacks {needed!r}"


@pytest.mark.parametrize("mode", [Mode.anime, Mode.live_action])
@pytest.mark.parametrize("tier", STUDENT_TIERS)
def test_each_student_is_closer_to_its_teacher_than_bicubic_on_real_frames(settings: Settings, mode, tier):
    # carphone and Big Buck Bunny (real video and real animation, never trained on), cropped
    frames = np.concatenate([eval_frames("carphone_pristine.mp4", 1)[:, 40:104, 40:136],
                             eval_frames("bigbuckbunny.mp4", 1)[:, 60:124, 100:196]])
    target = teacher_backend(mode, settings.data_dir).upscale(frames)
    student = load_upscaler(Enhancement(mode=mode, scale=2, tier=tier), settings)
    assert student.name == f"sharpr-{mode}-{tier}-x2-torch"
    for i in range(len(frames)):
        ours, bicubic = student.upscale(frames[i : i + 1]), ResizeUpscaler(2).upscale(frames[i : i + 1])
        assert psnr(ours, target[i : i + 1]) > psnr(bicubic, target[i : i + 1]) + MARGIN_DB[mode]


@pytest.mark.parametrize("tier", STUDENT_TIERS)
def test_students_run_on_the_winograd_kernel_and_in_bf16(settings: Settings, tier):
    """Their channel counts are whole AVX-512 vectors, so every 3x3 conv between PReLUs is
    the kernel's; bf16 (what the placement race may pick) agrees to bf16's precision."""
    upscaler = network_backend(Mode.anime, 2, "torch", settings.data_dir, tier)
    if upscaler.placement.winograd is not None:
        swapped = [m for m in upscaler.module.modules() if type(m).__name__ == "WinogradConv"]
        # all but the first (3 channels in, which stays oneDNN's); the last's 12 outputs padded
        assert len(swapped) == STUDENTS[tier][1] + 1
    net = compact_from_state_dict(load_file(model_for(Mode.anime, 2, tier).weights))
    x = torch.rand(1, 3, 40, 56)
    with torch.inference_mode():
        reference = net(x)
        bf16 = Placement(torch.device("cpu"), torch.bfloat16, torch.channels_last).prepare(
            compact_from_state_dict(load_file(model_for(Mode.anime, 2, tier).weights))
        )(x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)).float()
    assert (bf16 - reference).abs().max() < 0.05


def test_a_smoke_run_of_the_training_command_writes_loadable_weights_and_resumes(settings: Settings,
                                                                              tmp_path: Path):
    recipe = Recipe(mode="anime", tier="fast", num_feat=16, num_conv=2, steps=40, patches=40, batch=4)
    data = tmp_path / "distill-data"
    data.mkdir()
    for cache in ("models", "kernels"):  # the teacher's converted weights and the CPU kernel, shared
        (settings.data_dir / cache).mkdir(exist_ok=True)
        (data / cache).symlink_to(settings.data_dir / cache, target_is_directory=True)

    weights = train(recipe, data, tmp_path / "out")

    net = compact_from_state_dict(load_file(weights))
    assert isinstance(net, SRVGGNetCompact) and net.upscale == 2
    facts = json.loads(weights.with_suffix(".json").read_text())
    assert facts["recipe"]["steps"] == 40 and facts["holdout_patches"] == 2
    cached = sorted(p.name for p in (data / "distill").iterdir())
    assert cached == ["anime-fast-x2.ckpt", "patches-0-40.npz", "teacher-anime-0-40.npz"]
    # the same command again resumes at the last step: nothing left to train, same weights
    again = train(recipe, data, tmp_path / "again")
    for key, tensor in load_file(again).items():
        assert torch.equal(tensor, load_file(weights)[key])
