"""Reference interpreter throughput against torch (float64, same weights, same inputs), side by side in one run.

    python bench/interp.py [--repeat 5]

Prints JSON: samples per second of ``ir.interp.run`` and of the torch module, and their ratio, for the digits
network (64-64-10) and a Fashion-MNIST-sized one (784-256-10). The reference need not be fast, but it runs on
whole test sets during verification, so it should stay within a small factor of torch.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from compiler.frontend import from_sequential
from ir import interp


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10000)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for sizes in ((64, 64, 10), (784, 256, 10)):
        seq = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                  torch.nn.Linear(sizes[1], sizes[2])).double()
        graph = from_sequential(seq)
        x = np.random.default_rng(0).random((args.batch, sizes[0]))
        xt = torch.from_numpy(x)
        t_ref = _best(lambda graph=graph, x=x: interp.run(graph, x), args.repeat)
        with torch.no_grad():
            t_torch = _best(lambda seq=seq, xt=xt: seq(xt), args.repeat)
        rows.append({
            "network": "-".join(map(str, sizes)), "batch": args.batch,
            "interp_samples_per_s": round(args.batch / t_ref), "torch_samples_per_s": round(args.batch / t_torch),
            "interp_over_torch_time": round(t_ref / t_torch, 3),
        })
    print(json.dumps({"benchmark": "interp", "threads": torch.get_num_threads(), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
