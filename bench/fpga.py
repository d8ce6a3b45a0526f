"""FPGA hardware: cycles per inference against the MAC bound, and Verilator against the Amaranth simulator.

    python bench/fpga.py [--lanes 1 2 4 8 16]

Trains the digits DFA network (64-64-10, seed 0), quantizes it to 8 bits, and for each lane count P builds the
hardware, streams test inputs through Verilator back to back and reports the measured steady-state cycles per
inference beside the MAC bound
Σ⌈inᵢ·outᵢ / P⌉ (target: within 10 %). At P = 8 it also times the same design in the Amaranth simulator and in
Verilator and prints cycles per second of each, builds and elaboration excluded (target ratio ≥ 1,000). Prints
JSON.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from backends.fpga import build_network, emit
from backends.fpga.run import FpgaFolder, run_hardware
from backends.fpga.sim import simulate_amaranth
from backends.fpga.verilator import simulate_verilator
from compiler.frontend import from_trained
from compiler.passes import PassManager
from compiler.pipelines import quantize_pipeline
from ir import interp
from learning import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    args = parser.parse_args()
    result = train(TrainConfig(rule="dfa"), progress=False)
    graph = from_trained(result)
    PassManager(quantize_pipeline(result.dataset.x_train)).run(graph)
    x = result.dataset.x_test
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lanes in args.lanes:
            folder = FpgaFolder.load(emit(copy.deepcopy(graph), Path(tmp) / f"p{lanes}", lanes=lanes))
            run = run_hardware(folder, x[:20], "verilator")
            layers = folder.manifest["layers"]
            bound = sum(layer["mac_bound"] for layer in layers)
            measured = int(np.median(run["cycles"][1:]))  # steady state; the first is the latency
            mac_cycles = sum(layer["cycles"] for layer in layers)
            rows.append({"lanes": lanes, "cycles_per_inference": measured, "latency": run["cycles"][0],
                         "mapping": [[layer["slots"], layer["segments"]] for layer in layers], "mac_bound": bound,
                         "layer_cycles": mac_cycles, "layer_cycles_over_bound": round(mac_cycles / bound, 3),
                         "inference_over_bound": round(measured / bound, 3),
                         "bit_exact": bool(np.array_equal(run["hardware"], run["reference"]))})
        folder = FpgaFolder.load(emit(copy.deepcopy(graph), Path(tmp) / "speed", lanes=8))
        codes = interp.run(graph, x.astype(np.float64), keep=("quant",))["quant"]
        m = folder.manifest
        simulate_verilator(folder.path, codes[:1], m["output"]["count"], m["input"]["bits"], m["output"]["bits"])
        _, v_cycles, v_seconds = simulate_verilator(folder.path, np.tile(codes, (10, 1)), m["output"]["count"],
                                                    m["input"]["bits"], m["output"]["bits"])
        timed = []  # the Amaranth simulator's steady rate: the difference of a 1- and a 6-inference run
        for n in (1, 6):
            start = time.perf_counter()
            _, cycles = simulate_amaranth(build_network(graph, 8), codes[:n])
            timed.append((sum(cycles), time.perf_counter() - start))
        a_cycles, a_seconds = timed[1][0] - timed[0][0], timed[1][1] - timed[0][1]
    speed = {"verilator_cycles_per_s": round(sum(v_cycles) / v_seconds),
             "amaranth_cycles_per_s": round(a_cycles / a_seconds),
             "ratio": round((sum(v_cycles) / v_seconds) / (a_cycles / a_seconds))}
    print(json.dumps({"benchmark": "fpga", "model": "digits dfa 64-64-10, 8-bit", "cycles": rows,
                      "simulators": speed}, indent=1))


if __name__ == "__main__":
    main()
