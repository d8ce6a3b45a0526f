"""On-chip learning rules side by side: what each costs in hardware and what it learns.

    python bench/onchip.py [--rules dfa fa pepita ff hebbian oja] [--pe 2] [--epochs 5] [--markdown FILE]

For every rule and two digits networks (64-64-10 and 64-48-24-10, each from the rule's own random weights,
``neurocc train --rule R --epochs 0``: Oja's hidden units are tanh, the others' ReLU), compiles the network with
the rule's learning engine (``--learn``, biases learned) and without one (the inference design of the same
network and lane count, a datapath per layer), and reports:

- cycles per training sample against cycles per inference (the manifests' formulas, which the tests hold to the
  hardware);
- the logic the engine adds: yosys ``synth_ice40 -dsp`` statistics of each ``network.v`` (LUT4s, flip-flops,
  block RAMs, DSPs), learning design minus inference design;
- test accuracy after ``--epochs`` epochs of training on chip in Verilator (equal to the integer reference
  trainer's, which ``simulate --train`` checks), beside the float rule's on the same network
  (``neurocc train --rule R``, 40 epochs; Hebbian and Oja: the float unsupervised rules with a delta-rule readout).

Prints JSON (``bench/results/onchip.json``); ``--markdown FILE`` also writes the README's table, and ``--plot
FILE`` the learning curves: each rule's test accuracy per epoch on chip (the reference trainer's, which the
hardware equals) beside its float rule's, on both networks (``bench/results/onchip_curves.png``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from compiler.api import compile, open_folder
from compiler.frontend import from_trained
from learning.datasets import load_dataset
from learning.trainer import TrainConfig, train

NETWORKS = {"64-64-10": (64,), "64-48-24-10": (48, 24)}
CELLS = {"lut": "SB_LUT4", "ff": "SB_DFF", "bram": "SB_RAM40_4K", "dsp": "SB_MAC16"}


def synth_stats(folder: Path) -> dict[str, int]:
    """LUT4s, flip-flops (every SB_DFF* kind), block RAMs and DSPs of the folder's ``network.v`` after
    ``synth_ice40 -dsp``."""
    out = subprocess.run(["yosys", "-p", f"read_verilog {folder / 'network.v'}; synth_ice40 -dsp -top "
                          "neurocc_network; stat"], capture_output=True, text=True, check=True).stdout
    stat = out[out.rindex("Number of cells"):]
    counts = {name: int(n) for name, n in re.findall(r"^\s+(SB_\w+)\s+(\d+)$", stat, re.M)}
    return {key: sum(n for name, n in counts.items() if name.startswith(cell)) for key, cell in CELLS.items()}


def row(rule: str, network: str, pe: int, epochs: int, work: Path) -> dict[str, Any]:
    """One rule on one network, from the rule's own random weights."""
    hidden = NETWORKS[network]
    start = from_trained(train(TrainConfig(rule=rule, hidden=hidden, epochs=0), progress=False))
    floating = train(TrainConfig(rule=rule, hidden=hidden), progress=False)
    floating_start = train(TrainConfig(rule=rule, hidden=hidden, epochs=0), progress=False).test_accuracy
    without = synth_stats(compile(start, "fpga", work / f"inference-{rule}-{network}", pe=pe).path)
    learning = compile(start, "fpga", work / f"{rule}-{network}", pe=pe, learn=rule)
    with_engine = synth_stats(learning.path)
    trained = open_folder(learning.path).simulate(load_dataset("digits"), train=True, epochs=epochs)
    m = learning.manifest
    return {
        "rule": rule, "network": network, "pe": pe,
        "cycles_per_inference": m["cycles_per_inference"],
        "cycles_per_training_sample": m["learning"]["cycles_per_training_sample"],
        "training_over_inference": round(m["learning"]["cycles_per_training_sample"] / m["cycles_per_inference"], 2),
        "learning_design": with_engine, "inference_design": without,
        "extra": {key: with_engine[key] - without[key] for key in CELLS},
        "onchip_test_accuracy": trained["test_accuracy"], "initial_test_accuracy": trained["initial_test_accuracy"],
        "weights_equal_reference": trained["weights_equal_reference"], "epochs": epochs,
        "float_test_accuracy": floating.test_accuracy,
        "onchip_test_accuracy_per_epoch": trained["test_accuracy_per_epoch"],
        "float_test_accuracy_per_epoch": [floating_start, *(h.test_accuracy for h in floating.history)],
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| rule | network | cycles / training sample | × inference | extra LUT4 | extra FF | extra BRAM | "
             "extra DSP | on-chip accuracy | float rule |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        x = r["extra"]
        lines.append(f"| {r['rule']} | {r['network']} | {r['cycles_per_training_sample']:,} | "
                     f"{r['training_over_inference']} | {x['lut']:,} | {x['ff']:,} | {x['bram']} | {x['dsp']} | "
                     f"{r['onchip_test_accuracy']:.4f} | {r['float_test_accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """One panel per rule: test accuracy against epochs, on chip (solid) and the float rule (dashed), a colour
    per network."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = list(dict.fromkeys(r["rule"] for r in rows))
    cols = min(3, len(rules))
    fig, axes = plt.subplots(-(-len(rules) // cols), cols, figsize=(4 * cols, 3 * -(-len(rules) // cols)),
                             squeeze=False, sharey=True)
    colours = dict(zip(NETWORKS, ("tab:blue", "tab:orange"), strict=False))
    for ax, rule in zip(axes.flat, rules, strict=False):
        for r in (r for r in rows if r["rule"] == rule):
            colour = colours.get(r["network"], "tab:gray")
            onchip = r["onchip_test_accuracy_per_epoch"]
            ax.plot(range(len(onchip)), onchip, color=colour, marker="o", label=f"{r['network']} on chip")
            floating = r["float_test_accuracy_per_epoch"]
            ax.plot(range(len(floating)), floating, color=colour, linestyle="--", label=f"{r['network']} float")
        ax.set(title=rule, xlabel="epoch", ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes.flat[0].set_ylabel("test accuracy")
    axes.flat[0].legend(loc="lower right", fontsize="small")
    for ax in list(axes.flat)[len(rules):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", nargs="+", default=["dfa", "fa", "pepita", "ff", "hebbian", "oja"])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--pe", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--markdown", help="also write the README's table here")
    parser.add_argument("--plot", help="also write the learning curves here (PNG)")
    args = parser.parse_args()
    jobs = [(rule, network) for network in args.networks for rule in args.rules]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rule, network in tqdm(jobs, desc="bench onchip", unit="rule", file=sys.stderr):
            rows.append(row(rule, network, args.pe, args.epochs, Path(tmp)))
    print(json.dumps({"benchmark": "onchip", "dataset": "digits", "rows": rows}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
