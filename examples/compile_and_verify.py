"""Compile one trained model for both targets through the library API and verify each circuit.

    python examples/compile_and_verify.py --epochs 40 --out out/api --limit 100

Trains the digits DFA network, then ``compiler.api.compile`` writes an analog crossbar netlist (32×32 tiles,
1 Ω wire segments, so the reference is the exact nodal solution) and 8-lane fixed-point hardware;
``Folder.verify`` runs the first ``--limit`` test inputs through the fast circuit simulator (ngspice judging 32
of them) and through Verilator, against their references.
Prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from compiler.api import compile
from compiler.frontend import from_trained
from learning.trainer import TrainConfig, train


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default="out/api")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)

    model = from_trained(train(TrainConfig(rule="dfa", epochs=args.epochs), progress=False))
    out = Path(args.out)
    spice = compile(model, "spice", out / "spice", tile=32, r_wire=1.0)
    fpga = compile(model, "fpga", out / "fpga", pe=8)
    analog = spice.verify(limit=args.limit, plot=str(out / "spice-verify.png"))
    digital = fpga.verify(limit=args.limit)
    report = {
        "spice": {**{k: analog[k] for k in ("passed", "samples", "linear_max_rel_error", "output_max_error_volts",
                                            "output_tolerance_volts")},
                  "ngspice_output_max_rel_error": analog["ngspice"]["output_max_rel_error"]},
        "fpga": {k: digital[k] for k in ("passed", "samples", "mismatched_words", "cycles_per_inference")},
        "elements": spice.summary()["elements"], "cycles_per_inference": fpga.summary()["cycles_per_inference"],
    }
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
