"""`python -m services.worker.models.distill --mode anime --tier fast`: retrain one tier.

Writes `services/worker/models/weights/{mode}-{tier}-x2.safetensors` and its facts (`.json`);
the card beside them (`.md`) quotes those facts and bench/tiers.py's figures.
"""

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from services.core.schemas import Mode, Tier
from services.worker.models.catalog import STUDENT_WEIGHTS, STUDENTS
from services.worker.models.distill import recipe
from services.worker.models.distill.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=[Mode.anime.value, Mode.live_action.value], required=True)
    parser.add_argument("--tier", choices=[str(t) for t in STUDENTS], required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(".sharpr"),
                        help="where the patches, the teacher's outputs and checkpoints are cached")
    parser.add_argument("--out", type=Path, default=STUDENT_WEIGHTS, help="where the weights go")
    parser.add_argument("--steps", type=int, help="override the recipe (a smoke run)")
    parser.add_argument("--patches", type=int, help="override the recipe (a smoke run)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    chosen = recipe(Mode(args.mode), Tier(args.tier))
    overrides = {k: v for k, v in (("steps", args.steps), ("patches", args.patches)) if v}
    print(train(dataclasses.replace(chosen, **overrides), args.data_dir, args.out))


if __name__ == "__main__":
    main()
