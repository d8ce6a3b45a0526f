"""Netlist writing and solving speed, side by side in one run.

    python bench/netlist.py [--tile 64] [--sizes 8 16 32 64]

1. Elements per second: neurocc's writer (``circuits.analog.netlist``: build a crossbar tile with wire
   resistance, then write its text) against PySpice's ``Circuit`` object model building the same elements and
   rendering them with ``str()``. Target: ≥ 100×.
2. Seconds per operating point for ngspice (batch subprocess, 3 points, start-up included once) against the
   exact nodal solver (factorization + solve), for square tiles with 1 Ω wire segments.

Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from circuits.analog.crossbar import Crossbar, add_crossbar
from circuits.analog.netlist import Netlist
from circuits.analog.ngspice import run_batch
from circuits.analog.solver import NodalSolver


def tile_netlist(n: int, r_wire: float = 1.0) -> tuple[Netlist, list[str]]:
    rng = np.random.default_rng(0)
    tile = Crossbar(rng.uniform(1e-6, 1e-4, (n, n)), rng.uniform(1e-6, 1e-4, (n, n)), r_feedback=1e4, r_wire=r_wire)
    net = Netlist(f"tile {n}")
    plus, minus = [f"in{i}" for i in range(n)], [f"inn{i}" for i in range(n)]
    for i in range(n):
        net.vsource(f"in{i}", plus[i], "0", 0.1)
        net.vcvs(f"inv{i}", minus[i], "0", plus[i], "0", -1.0)
    return net, add_crossbar(net, "t0", tile, plus, minus)


def pyspice_text(net: Netlist, units: bool = False) -> str:
    """The same elements through PySpice's ``Circuit`` (plain floats, or PySpice unit values as its docs use)."""
    from PySpice.Spice.Netlist import Circuit
    from PySpice.Unit import u_Ohm, u_V

    c = Circuit(net.title)
    for letter, name, nodes, value in net.elements:
        if letter == "R":
            c.R(name, *nodes, value @ u_Ohm if units else value)
        elif letter == "V":
            c.V(name, *nodes, value @ u_V if units else value)
        else:
            c.VCVS(name, *nodes, voltage_gain=value)
    return str(c)


def best_of(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    args = parser.parse_args()

    net, _ = tile_netlist(args.tile)
    n_elements = net.count
    t_ours = best_of(lambda: tile_netlist(args.tile)[0].text())
    t_pyspice = best_of(lambda: pyspice_text(net))
    t_units = best_of(lambda: pyspice_text(net, units=True))
    writer = {"tile": args.tile, "elements": n_elements,
              "neurocc_elements_per_s": round(n_elements / t_ours),
              "pyspice_elements_per_s": round(n_elements / t_pyspice),
              "pyspice_unit_values_elements_per_s": round(n_elements / t_units),
              "speedup": round(t_pyspice / t_ours, 1), "target_speedup": 100}

    solve = []
    rng = np.random.default_rng(1)
    for n in args.sizes:
        tnet, outs = tile_netlist(n)
        v = rng.uniform(-0.2, 0.2, (3, n))
        src = {f"vin{i}": v[:, i] for i in range(n)}
        start = time.perf_counter()
        ng = run_batch(tnet, outs, src)
        t_ng = time.perf_counter() - start
        start = time.perf_counter()
        ref = NodalSolver(tnet).solve(src)
        t_ref = time.perf_counter() - start
        err = max(float(np.abs(ng[o] - ref[o]).max()) for o in outs) / max(float(np.abs(ref[o]).max()) for o in outs)
        solve.append({"tile": n, "elements": tnet.count, "ngspice_s_per_op": round(t_ng / 3, 4),
                      "nodal_solver_s_3_ops": round(t_ref, 4), "max_rel_diff": err})
    print(json.dumps({"benchmark": "netlist", "writer": writer, "solve": solve}, indent=1))


if __name__ == "__main__":
    main()
