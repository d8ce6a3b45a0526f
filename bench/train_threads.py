"""What one-thread training costs: seconds per epoch on one torch thread (what ``learning.train`` uses, for results
that do not depend on the machine's thread count) against torch's default thread count, side by side in one run.

    python bench/train_threads.py [--epochs 3] [--rule dfa]

Also checks the point of it: the default thread count may give other weights than one thread; one thread gives
the same weights whatever ``OMP_NUM_THREADS`` was. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace

import torch

from learning.datasets import load_dataset
from learning.trainer import TrainConfig, _train, train


def _run(config: TrainConfig, threads: int | None) -> tuple[float, list[torch.Tensor]]:
    """Median seconds per epoch (the first excluded) and the trained weights, with ``threads`` torch threads
    (``None``: ``train`` itself, which uses one)."""
    data = load_dataset(config.dataset)
    if threads is None:
        result = train(config, data, progress=False)
    else:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            result = _train(config, data, progress=False)
        finally:
            torch.set_num_threads(previous)
    seconds = statistics.median(h.seconds for h in result.history[1:])
    return seconds, [p.detach().clone() for p in result.net.parameters()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3, help="Fashion-MNIST epochs (digits runs 10)")
    ap.add_argument("--rule", default="dfa")
    args = ap.parse_args()
    default = torch.get_num_threads()
    rows = []
    for dataset, hidden, epochs in (("digits", (64,), 10), ("fashion-mnist", (256,), args.epochs)):
        config = TrainConfig(rule=args.rule, dataset=dataset, hidden=hidden, epochs=epochs)
        _run(replace(config, epochs=2), default)  # warm-up: the data set loaded, torch's kernels initialized
        one, w_one = _run(config, None)
        many, w_many = _run(config, default)
        rows.append({"dataset": dataset, "hidden": list(hidden), "epochs": epochs,
                     "seconds_per_epoch_one_thread": round(one, 3),
                     f"seconds_per_epoch_{default}_threads": round(many, 3), "one_over_default": round(one / many, 3),
                     "same_weights": all(torch.equal(a, b) for a, b in zip(w_one, w_many, strict=True))})
    print(json.dumps({"benchmark": "train_threads", "rule": args.rule,
                      "default_threads": default, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
