"""How much chapter 09's glasses classifier depends on its training seed, alone and averaged.

    python benchmarks/judge_seeds.py --seeds 15          # about 3 minutes on 2 CPU cores

Trains the book model ``glasses_classifier`` once per seed 0..N-1 (through the checkpoint
cache) and prints each network's accuracy on the chapter's test people, then the accuracy of
ensembles (mean probability of k networks) over up to 3000 random choices of k of the N
networks: mean, std, 5% quantile and lowest. The chapter's judge
(``rl.zoo.glasses_judge``) is such an ensemble; this measurement chose its size.
"""
from __future__ import annotations

import argparse
import itertools
import random

import torch

import replearn_core as rl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15, help="networks trained, seeds 0..N-1")
    parser.add_argument("--sizes", default="1,3,5,7,10", help="ensemble sizes to evaluate")
    args = parser.parse_args()
    device = rl.pick_device("cpu")
    split = rl.face_split(device)
    entry = rl.zoo.book_entry("glasses_classifier")
    probs = []
    for seed in range(args.seeds):
        judge = rl.book_model("glasses_classifier", device, training=entry.training.replace(seed=seed),
                              progress=False).model
        probs.append(judge.predict_proba(split.x_test)[:, rl.models.transfer.GLASSES])
        print(f"seed {seed:2d}: test accuracy {judge.accuracy(split.x_test, split.glasses_test):.3f}", flush=True)

    def accuracy(members) -> float:
        p = torch.stack([probs[i] for i in members]).mean(0)
        return float(((p > 0.5).long() == split.glasses_test).float().mean())

    rng = random.Random(0)
    for k in (int(s) for s in args.sizes.split(",")):
        if k > args.seeds:
            continue
        choices = list(itertools.combinations(range(args.seeds), k))
        rng.shuffle(choices)
        acc = torch.tensor([accuracy(c) for c in choices[:3000]])
        print(f"ensembles of {k:2d}: accuracy mean {acc.mean():.3f}, std {acc.std():.3f}, "
              f"5% quantile {acc.quantile(0.05):.3f}, lowest {acc.min():.3f} ({min(3000, len(choices))} choices)")


if __name__ == "__main__":
    main()
