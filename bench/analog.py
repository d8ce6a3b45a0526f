"""The fast circuit simulator against ngspice, on the same netlists, side by side in one run.

    python bench/analog.py [--sizes 16 32 64 128] [--batch 1000] [--big 256] [--fashion]

1. Square crossbar tiles with 1 Ω wire segments (random conductances in [1e-6, 1e-4] S, ideal drivers, finite-gain
   transimpedance stages): seconds for one input (read the netlist, solve: from its text, as ngspice gets it, and
   from the in-memory ``Netlist`` it was written from) and per input in a batch of ``--batch``, fast simulator
   against ngspice (PySpice's shared library: one input includes loading the netlist, the best of three runs below
   100×100; per input in a batch is the cost of one more operating point: ``(T(k) − T(1)) / (k − 1)`` with
   k = 11, or 3 from 64×64 on, or ``T(1)`` for tiles where one operating point takes minutes), and their largest
   difference relative to full scale. The fast simulator's one input is the best of ten runs, its batch the
   best of three (each run reads the netlist again: nothing is kept between them).
   Targets at 64×64: ≥ 300× for one input, ≥ 10,000× per input in a batch of 1,000.
2. ``--batch`` inputs through one ``--big``×``--big`` tile with wires (target ≤ 10 s on two cores).
3. ``--fashion``: the whole Fashion-MNIST test set (10,000) through a 784-256-10 network (trained one epoch with
   DFA) compiled with 1 Ω wires and precision rectifiers; the seconds it takes and its accuracy beside the float
   network's (ngspice had not finished two inputs of this netlist after 7 minutes here: ``--fashion-ngspice N`` tries
   N of them).

Prints JSON (``bench/results/analog.json`` holds the README's run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from circuits.analog.crossbar import Crossbar, add_crossbar
from circuits.analog.fast import FastCircuit
from circuits.analog.netlist import Netlist
from circuits.analog.ngspice import checked
from circuits.analog.ngspice_shared import run_batch_shared

SLOW_NGSPICE = 100
"""Tiles at least this wide get one ngspice operating point only (each takes minutes)."""


def tile(n: int) -> tuple[Netlist, list[str]]:
    rng = np.random.default_rng(n)
    xb = Crossbar(rng.uniform(1e-6, 1e-4, (n, n)), rng.uniform(1e-6, 1e-4, (n, n)), r_feedback=1e3, r_wire=1.0,
                  tile_rows=n, tile_cols=n)
    net = Netlist(f"tile {n}")
    plus, minus = [f"in{i}" for i in range(n)], [f"inn{i}" for i in range(n)]
    for i in range(n):
        net.vsource(f"in{i}", plus[i], "0", 0.0)
        net.vcvs(f"inv{i}", minus[i], "0", plus[i], "0", -1.0)
    return net, add_crossbar(net, "t0", xb, plus, minus)


def sources(n: int, k: int, seed: int = 0) -> dict[str, np.ndarray]:
    v = np.random.default_rng(seed).uniform(-0.2, 0.2, (k, n))
    return {f"vin{i}": v[:, i] for i in range(n)}


def timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def tile_row(n: int, batch: int) -> dict[str, Any]:
    net, outs = tile(n)
    text = checked(net)
    one = sources(n, 1)
    fast_one, got = timed(lambda: FastCircuit(text).run(outs, one), repeat=10)
    fast_model, from_model = timed(lambda: FastCircuit(net).run(outs, one), repeat=10)
    assert all(np.array_equal(got[o], from_model[o]) for o in outs)  # the same arrays, the same answer
    many = sources(n, batch, 1)
    fast_batch, _ = timed(lambda: FastCircuit(text).run(outs, many), repeat=3)
    ng_one, ref = timed(lambda: run_batch_shared(text, outs, one), repeat=3 if n < SLOW_NGSPICE else 1)
    if n < SLOW_NGSPICE:
        k = 11 if n < 64 else 3
        ng_k, _ = timed(lambda: run_batch_shared(text, outs, sources(n, k, 2)))
        ng_per_input = (ng_k - ng_one) / (k - 1)
    else:
        ng_per_input = ng_one
    a, b = (np.array([d[o][0] for o in outs]) for d in (got, ref))
    return {"n": n, "elements": net.count, "fast_one_input_s": fast_one, "ngspice_one_input_s": ng_one,
            "one_input_ratio": ng_one / fast_one, "fast_one_input_from_model_s": fast_model,
            "one_input_from_model_ratio": ng_one / fast_model, "fast_per_input_in_batch_s": fast_batch / batch,
            "ngspice_per_input_in_batch_s": ng_per_input, "batch_ratio": ng_per_input / (fast_batch / batch),
            "batch": batch, "max_difference_of_full_scale": float(np.abs(a - b).max() / np.abs(b).max())}


def big_tile(n: int, batch: int) -> dict[str, Any]:
    net, outs = tile(n)
    text = checked(net)
    seconds, _ = timed(lambda: FastCircuit(text).run(outs, sources(n, batch)))
    return {"n": n, "elements": net.count, "inputs": batch, "seconds": seconds, "threads": os.cpu_count()}


def fashion(ngspice_inputs: int) -> dict[str, Any]:
    from backends.spice.run import SpiceFolder, simulate
    from compiler.api import compile as compile_model
    from compiler.frontend import from_trained
    from ir import interp, save
    from learning.trainer import TrainConfig, train

    result = train(TrainConfig(rule="dfa", dataset="fashion-mnist", hidden=(256,), epochs=1), progress=False)
    data = result.dataset
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "fashion.ncm"
        save(from_trained(result), model)
        start = time.perf_counter()
        compile_model(str(model), "spice", str(Path(tmp) / "sp"), r_wire=1.0)
        compile_s = time.perf_counter() - start
        folder = SpiceFolder.load(Path(tmp) / "sp")
        x = data.x_test.astype(np.float64)
        seconds, sim = timed(lambda: simulate(folder, x, progress=False, simulator="fast"))
        float_logits = interp.run(from_trained(result), x)["logits"]
        report = {"network": "784-256-10", "elements": folder.manifest["elements"], "inputs": len(x),
                  "compile_s": compile_s, "fast_s": seconds, "fast_per_input_s": seconds / len(x),
                  "circuit_accuracy": float((sim["logits"].argmax(1) == data.y_test).mean()),
                  "float_accuracy": float((float_logits.argmax(1) == data.y_test).mean())}
        if ngspice_inputs:
            ng_s, ng = timed(lambda: simulate(folder, x[:ngspice_inputs], progress=False, simulator="ngspice"))
            fullscale = folder.manifest["fullscale_volts"]
            report["ngspice_per_input_s"] = ng_s / ngspice_inputs
            report["fast_vs_ngspice_of_full_scale"] = float(
                np.abs(sim["volts"][:ngspice_inputs] - ng["volts"]).max() / fullscale)
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--big", type=int, default=256)
    parser.add_argument("--fashion", action="store_true", help="also the Fashion-MNIST network (minutes)")
    parser.add_argument("--fashion-ngspice", type=int, default=0, help="inputs of it also run in ngspice (0)")
    args = parser.parse_args()
    small, outs = tile(4)  # imports scipy and starts ngspice before anything is timed
    FastCircuit(checked(small)).run(outs, sources(4, 1))
    run_batch_shared(checked(small), outs, sources(4, 1))
    report: dict[str, Any] = {}
    if args.fashion:
        report["fashion_mnist"] = fashion(args.fashion_ngspice)
        print(json.dumps(report["fashion_mnist"]), file=sys.stderr)  # each part as it finishes, on stderr
    report["big_tile"] = big_tile(args.big, args.batch)
    print(json.dumps(report["big_tile"]), file=sys.stderr)
    report["tiles"] = []
    for n in args.sizes:
        report["tiles"].append(tile_row(n, args.batch))
        print(json.dumps(report["tiles"][-1]), file=sys.stderr)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
