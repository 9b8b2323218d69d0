"""Distil one fast tier from its mode's teacher: the student copies the teacher's x2 output.

The inputs (`patches`) and the teacher's outputs on them are computed once and cached under
`data_dir/distill`; training then needs only the student. Fixed seeds for the patches, the
initial weights and the batches. The last `HOLDOUT` of the patches is never trained on and
gives the PSNR printed as it goes. A checkpoint is written every `CHECKPOINT_EVERY` steps and
a rerun with the same arguments resumes from it.
"""

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from services.core.schemas import Mode
from services.worker.models.compact.arch import SRVGGNetCompact
from services.worker.models.distill.patches import make_patches

log = logging.getLogger(__name__)

HOLDOUT = 0.05
CHECKPOINT_EVERY = 200
EVAL_EVERY = 500


@dataclass(frozen=True)
class Recipe:
    """What a tier's training run is: the command's arguments, written into the card."""

    mode: str
    tier: str
    num_feat: int
    num_conv: int
    steps: int
    patches: int
    batch: int = 16
    lr: float = 2e-3
    seed: int = 0
    loss: str = "l1"  # or "mse"


def teacher_outputs(lr: np.ndarray, mode: Mode, data_dir: Path, cache: Path) -> np.ndarray:
    """The teacher's x2 output on every patch, computed once (it is the slow part)."""
    if cache.exists():
        return np.load(cache)["target"]
    from services.worker.models import teacher_backend

    teacher = teacher_backend(mode, data_dir)
    out = np.empty((len(lr), lr.shape[1] * 2, lr.shape[2] * 2, 3), dtype=np.uint8)
    started, step = time.perf_counter(), 32
    for start in range(0, len(lr), step):
        out[start : start + step] = teacher.upscale(lr[start : start + step])
        done = min(start + step, len(lr))
        log.info("event=teacher_progress mode=%s done=%d total=%d seconds=%.0f", mode, done,
                 len(lr), time.perf_counter() - started)  # fmt: skip
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache.with_suffix(".partial.npz"), target=out)
    cache.with_suffix(".partial.npz").replace(cache)
    return out


def training_data(recipe: Recipe, data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = data_dir / "distill"
    inputs = folder / f"patches-{recipe.seed}-{recipe.patches}.npz"
    if inputs.exists():
        lr = np.load(inputs)["lr"]
    else:
        lr = make_patches(recipe.patches, recipe.seed)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(inputs.with_suffix(".partial.npz"), lr=lr)
        inputs.with_suffix(".partial.npz").replace(inputs)
    target_cache = folder / f"teacher-{recipe.mode}-{recipe.seed}-{recipe.patches}.npz"
    return lr, teacher_outputs(lr, Mode(recipe.mode), data_dir, target_cache)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def student(recipe: Recipe) -> SRVGGNetCompact:
    """SRVGGNetCompact at native x2; the last conv starts small, so the first output is the
    nearest-neighbour enlargement and training starts from a sane picture."""
    torch.manual_seed(recipe.seed)
    net = SRVGGNetCompact(3, 3, recipe.num_feat, recipe.num_conv, upscale=2)
    last = net.body[-1]
    assert isinstance(last, torch.nn.Conv2d)
    with torch.no_grad():
        last.weight.mul_(0.1)
        last.bias.zero_()
    return net


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.clamp(0, 1), b).item()
    return 10 * math.log10(1 / max(mse, 1e-12))


def holdout_psnr(net: SRVGGNetCompact, lr: torch.Tensor, target: torch.Tensor) -> float:
    with torch.inference_mode():
        out = torch.cat([net(lr[i : i + 64]) for i in range(0, len(lr), 64)])
        return psnr((out * 255).round() / 255, target)


def dihedral(x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One of the 8 flips and rotations, the same for input and target."""
    if k & 4:
        x, y = x.flip(3), y.flip(3)
    return torch.rot90(x, k % 4, (2, 3)), torch.rot90(y, k % 4, (2, 3))


def train(recipe: Recipe, data_dir: Path, out_dir: Path) -> Path:
    """Trains (or resumes) and writes `{mode}-{tier}-x2.safetensors` and its `.json` facts."""
    lr_all, target_all = training_data(recipe, data_dir)
    held = max(1, int(len(lr_all) * HOLDOUT))
    lr_train, target_train = lr_all[:-held], target_all[:-held]
    lr_held, target_held = to_tensor(lr_all[-held:]), to_tensor(target_all[-held:])
    bicubic = psnr(F.interpolate(lr_held, scale_factor=2, mode="bicubic"), target_held)

    net = student(recipe)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr, betas=(0.9, 0.99))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.05, final_div_factor=100
    )
    name = f"{recipe.mode}-{recipe.tier}-x2"
    checkpoint = data_dir / "distill" / f"{name}.ckpt"
    step, spent = 0, 0.0
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["recipe"] == asdict(recipe):
            net.load_state_dict(saved["net"])
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(saved["schedule"])
            step, spent = saved["step"], saved["seconds"]
            log.info("event=distill_resumed name=%s step=%d", name, step)
    rng = np.random.default_rng(recipe.seed + step)
    started = time.perf_counter() - spent
    net.train()
    while step < recipe.steps:
        picks = rng.integers(0, len(lr_train), recipe.batch)
        x, y = dihedral(to_tensor(lr_train[picks]), to_tensor(target_train[picks]), int(rng.integers(8)))
        loss = (F.l1_loss if recipe.loss == "l1" else F.mse_loss)(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        step += 1
        if step % 50 == 0:
            elapsed = time.perf_counter() - started
            log.info("event=distill_step name=%s step=%d loss=%.5f seconds=%.0f eta=%.0f", name, step,
                     loss.item(), elapsed, elapsed / step * (recipe.steps - step))  # fmt: skip
        if step % EVAL_EVERY == 0 or step == recipe.steps:
            net.eval()
            log.info("event=distill_holdout name=%s step=%d psnr=%.2f bicubic=%.2f", name, step,
                     holdout_psnr(net, lr_held, target_held), bicubic)  # fmt: skip
            net.train()
        if step % CHECKPOINT_EVERY == 0 or step == recipe.steps:
            torch.save({"recipe": asdict(recipe), "net": net.state_dict(), "step": step,
                        "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                        "seconds": time.perf_counter() - started}, checkpoint)  # fmt: skip
    net.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights)
    facts = {"recipe": asdict(recipe), "seconds": round(time.perf_counter() - started),
             "holdout_psnr": round(holdout_psnr(net, lr_held, target_held), 2),
             "holdout_bicubic_psnr": round(bicubic, 2), "holdout_patches": held,
             "torch": torch.__version__, "threads": torch.get_num_threads()}  # fmt: skip
    (out_dir / f"{name}.json").write_text(json.dumps(facts, indent=2) + "\n")
    log.info("event=distill_done name=%s weights=%s", name, weights)
    return weights
