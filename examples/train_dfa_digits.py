"""Train a DFA network on digits, lower it to the IR, save it, load it back and check the reference.

    python examples/train_dfa_digits.py --epochs 40 --out out/example

Prints a JSON report: the torch test accuracy, the reference interpreter's accuracy on the reloaded model file,
and the largest difference between the two on the whole test set (float64).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import ir
from compiler.evaluate import reference_accuracy
from compiler.frontend import from_trained
from learning.trainer import TrainConfig, train


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="out/example")
    args = parser.parse_args(argv)

    result = train(TrainConfig(rule="dfa", dataset="digits", hidden=(64,), epochs=args.epochs, seed=args.seed))
    path = Path(args.out) / "digits-dfa.ncm"
    ir.save(from_trained(result), path)

    graph = ir.load(path)  # what a user would ship to the compiler
    x = result.dataset.x_test.astype(np.float64)
    with torch.no_grad():
        torch_logits = result.net.double()(torch.from_numpy(x)).numpy()
    ref_logits = ir.interp.run(graph, x)["logits"]
    report = {
        "torch_test_accuracy": result.test_accuracy,
        "reference_test_accuracy": reference_accuracy(graph, result.dataset).accuracy,
        "max_abs_difference": float(np.abs(ref_logits - torch_logits).max()),
        "model_file": str(path),
    }
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
