"""FPGA hardware: cycles per inference against the MAC bound, and Verilator against the Amaranth simulator.

    python bench/fpga.py [--lanes 1 2 4 8 16]

Trains the digits DFA network (64-64-10, seed 0), quantizes it to 8 bits, and for each lane count P builds the
hardware, streams test inputs through Verilator back to back and reports the measured steady-state cycles per
inference beside the MAC bound
Σ⌈inᵢ·outᵢ / P⌉ (target: within 10 %). At P = 8 it also times the same design in the Amaranth simulator and in
Verilator and prints cycles per second of each, builds and elaboration excluded (target ratio ≥ 1,000). For each
P it also compiles the same network with the on-chip DFA engine (``learn="dfa"``), trains 20 samples in
Verilator, checks every weight against the reference trainer and reports the cycles per training sample against
the cycles per inference (target ≤ 3×). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from backends.fpga import build_network
from backends.fpga.program import Infer, Streamed
from backends.fpga.run import input_codes, run_hardware
from backends.fpga.sim import simulate_amaranth
from backends.fpga.verilator import simulate_verilator
from compiler.api import compile
from compiler.frontend import from_trained
from learning.trainer import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    args = parser.parse_args()
    result = train(TrainConfig(rule="dfa"), progress=False)
    source = from_trained(result)
    x = result.dataset.x_test
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lanes in args.lanes:
            folder = compile(source, "fpga", Path(tmp) / f"p{lanes}", pe=lanes)
            run = run_hardware(folder.loaded, x[:20], "verilator")
            layers = folder.manifest["layers"]
            bound = sum(layer["mac_bound"] for layer in layers)
            measured = int(np.median(run["cycles"][1:]))  # steady state; the first is the latency
            mac_cycles = sum(layer["cycles"] for layer in layers)
            rows.append({"lanes": lanes, "cycles_per_inference": measured, "latency": run["cycles"][0],
                         "mapping": [[layer["slots"], layer["segments"]] for layer in layers], "mac_bound": bound,
                         "layer_cycles": mac_cycles, "layer_cycles_over_bound": round(mac_cycles / bound, 3),
                         "inference_over_bound": round(measured / bound, 3),
                         "bit_exact": bool(np.array_equal(run["hardware"], run["reference"]))})
            learner = compile(source, "fpga", Path(tmp) / f"l{lanes}", pe=lanes, learn="dfa")
            trained = learner.verify(result.dataset, learn_steps=20)
            training = trained["cycles_per_training_sample"][-1]
            rows[-1].update(training_cycles_per_sample=training, training_over_inference=round(training / measured, 3),
                            training_bit_exact=trained["passed"])
        folder = compile(source, "fpga", Path(tmp) / "speed", pe=8)
        graph = folder.graph
        codes = input_codes(graph, x)
        simulate_verilator(folder.loaded, [Infer(codes[:1])])  # builds the model (or finds it in the cache)
        (run,), v_seconds = simulate_verilator(folder.loaded, [Infer(np.tile(codes, (10, 1)))])
        assert isinstance(run, Streamed)
        v_cycles = run.cycles
        timed = []  # the Amaranth simulator's steady rate: the difference of a 1- and a 6-inference run
        for n in (1, 6):
            start = time.perf_counter()
            (run,) = simulate_amaranth(build_network(graph), [Infer(codes[:n])])
            assert isinstance(run, Streamed)
            timed.append((sum(run.cycles), time.perf_counter() - start))
        a_cycles, a_seconds = timed[1][0] - timed[0][0], timed[1][1] - timed[0][1]
    speed = {"verilator_cycles_per_s": round(sum(v_cycles) / v_seconds),
             "amaranth_cycles_per_s": round(a_cycles / a_seconds),
             "ratio": round((sum(v_cycles) / v_seconds) / (a_cycles / a_seconds))}
    print(json.dumps({"benchmark": "fpga", "model": "digits dfa 64-64-10, 8-bit", "cycles": rows,
                      "simulators": speed}, indent=1))


if __name__ == "__main__":
    main()
