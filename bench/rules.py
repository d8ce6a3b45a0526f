"""Every learning rule against backprop: test accuracy (mean ± std over seeds) and epoch time relative to BP.

    python bench/rules.py [--seeds 3] [--datasets digits fashion-mnist] [--rules bp dfa ...] [--markdown FILE]

All rules run in one process, one after another for each seed, so their epoch times are measured side by side
on the same machine state; the ratio to BP is taken per seed, then averaged. Epoch time is the median over a
run's epochs (the first excluded). Settings: digits 64-64-10, 40 epochs, batch 32; Fashion-MNIST 784-256-10,
10 epochs, batch 64; every rule with its own defaults otherwise. Prints JSON; ``--markdown`` also writes the
README's table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from learning.datasets import load_dataset
from learning.rules import RULES
from learning.trainer import TrainConfig, train

SETTINGS = {
    "digits": {"hidden": (64,), "epochs": 40, "batch_size": 32},
    "fashion-mnist": {"hidden": (256,), "epochs": 10, "batch_size": 64},
}
TIME_TARGETS = {"fa": 1.2, "dfa": 1.2, "pepita": 1.2}
ACCURACY_GAP = {"digits": 0.02, "fashion-mnist": 0.04}


def run(datasets: list[str], rules: list[str], seeds: int, device: str) -> dict:
    results: dict = {"device": device, "threads": torch.get_num_threads(), "seeds": seeds, "datasets": {}}
    jobs = [(d, s, r) for d in datasets for s in range(seeds) for r in rules]
    raw: dict = {d: {r: {"acc": [], "sec": [], "ratio": []} for r in rules} for d in datasets}
    bp_time: dict = {}
    for dataset, seed, rule in tqdm(jobs, desc="bench rules", unit="run", file=sys.stderr):
        cfg = TrainConfig(rule=rule, dataset=dataset, seed=seed, device=device, **SETTINGS[dataset])
        result = train(cfg, data=load_dataset(dataset), progress=False)
        sec = statistics.median(h.seconds for h in result.history[1:])
        if rule == "bp":
            bp_time[(dataset, seed)] = sec
        raw[dataset][rule]["acc"].append(result.test_accuracy)
        raw[dataset][rule]["sec"].append(sec)
        if (dataset, seed) in bp_time:
            raw[dataset][rule]["ratio"].append(sec / bp_time[(dataset, seed)])
    for dataset in datasets:
        bp_mean = statistics.mean(raw[dataset]["bp"]["acc"]) if "bp" in raw[dataset] else None
        table = {}
        for rule in rules:
            r = raw[dataset][rule]
            mean = statistics.mean(r["acc"])
            row = {
                "supervised": RULES[rule].supervised,
                "accuracy_mean": round(mean, 4),
                "accuracy_std": round(statistics.stdev(r["acc"]) if len(r["acc"]) > 1 else 0.0, 4),
                "accuracies": [round(a, 4) for a in r["acc"]],
                "epoch_seconds": round(statistics.mean(r["sec"]), 4),
                "epoch_time_vs_bp": round(statistics.mean(r["ratio"]), 3) if r["ratio"] else None,
            }
            if bp_mean is not None and RULES[rule].supervised and rule != "bp":
                row["points_behind_bp"] = round(100 * (bp_mean - mean), 2)
                row["within_accuracy_target"] = bp_mean - mean <= ACCURACY_GAP[dataset]
            if rule in TIME_TARGETS and row["epoch_time_vs_bp"] is not None:
                row["within_time_target"] = row["epoch_time_vs_bp"] <= TIME_TARGETS[rule]
            table[rule] = row
        results["datasets"][dataset] = {"settings": {k: list(v) if isinstance(v, tuple) else v
                                                     for k, v in SETTINGS[dataset].items()}, "rules": table}
    return results


def markdown(results: dict) -> str:
    datasets = list(results["datasets"])
    head = "| rule | " + " | ".join(f"{d} accuracy | {d} epoch time vs BP" for d in datasets) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(datasets))]
    rules = list(results["datasets"][datasets[0]]["rules"])
    for rule in rules:
        cells = [f"`{rule}`" + ("" if RULES[rule].supervised else " (unsupervised + readout)")]
        for d in datasets:
            row = results["datasets"][d]["rules"][rule]
            cells.append(f"{row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f}")
            cells.append(f"{row['epoch_time_vs_bp']:.2f}×" if row["epoch_time_vs_bp"] is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--markdown", help="also write the results as a Markdown table to this file")
    args = parser.parse_args()
    results = run(args.datasets, args.rules, args.seeds, args.device)
    print(json.dumps(results, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(results))


if __name__ == "__main__":
    main()
