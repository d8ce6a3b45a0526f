"""What one-thread training costs: seconds per epoch on one torch thread (what ``learning.train`` uses, for results
that do not depend on the machine's thread count) against torch's default thread count, side by side in one run.

    python bench/train_threads.py [--epochs 2] [--rule dfa]

Also checks the point of it: the default thread count may give other weights than one thread; one thread gives
the same weights whatever ``OMP_NUM_THREADS`` was. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from learning.datasets import load_dataset
from learning.trainer import TrainConfig, _train, train


def _seconds(config: TrainConfig, threads: int | None) -> tuple[float, list[torch.Tensor]]:
    """Seconds per epoch and the trained weights, with ``threads`` torch threads (``None``: ``train`` itself)."""
    data = load_dataset(config.dataset)
    start = time.perf_counter()
    if threads is None:
        result = train(config, data, progress=False)
    else:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            result = _train(config, data, progress=False)
        finally:
            torch.set_num_threads(previous)
    seconds = (time.perf_counter() - start) / max(config.epochs, 1)
    return seconds, [p.detach().clone() for p in result.net.parameters()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rule", default="dfa")
    args = ap.parse_args()
    default = torch.get_num_threads()
    rows = []
    for dataset, hidden in (("digits", (64,)), ("fashion-mnist", (256,))):
        config = TrainConfig(rule=args.rule, dataset=dataset, hidden=hidden, epochs=args.epochs)
        one, w_one = _seconds(config, None)
        many, w_many = _seconds(config, default)
        rows.append({"dataset": dataset, "hidden": list(hidden), "seconds_per_epoch_one_thread": round(one, 3),
                     f"seconds_per_epoch_{default}_threads": round(many, 3), "one_over_default": round(one / many, 3),
                     "same_weights": all(torch.equal(a, b) for a, b in zip(w_one, w_many, strict=True))})
    print(json.dumps({"benchmark": "train_threads", "rule": args.rule, "epochs": args.epochs,
                      "default_threads": default, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
