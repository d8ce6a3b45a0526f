"""Load an emitted FPGA folder and run its hardware against the integer reference."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.fpga.emit import build_network
from backends.folder import read_folder
from backends.fpga.sim import simulate_amaranth
from backends.fpga.verilator import simulate_verilator
from ir import Graph, interp
from ir.dialects import digital
from ir.errors import ConfigError


@dataclass(frozen=True)
class FpgaFolder:
    path: Path
    manifest: dict[str, Any]
    graph: Graph

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> FpgaFolder:
        return cls(*read_folder(out_dir, "fpga", ("network.v",)))


SIMULATORS = ("verilator", "amaranth")


def run_hardware(folder: FpgaFolder, x: np.ndarray, simulator: str = "verilator") -> dict[str, Any]:
    """The hardware's output words for float inputs ``x`` beside the integer reference's, and cycle counts:
    Verilator on the emitted ``network.v``, or the Amaranth simulator on the same design."""
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}: must be one of {', '.join(SIMULATORS)}")
    graph = folder.graph
    last = [n for n, op in graph.nodes() if isinstance(op, digital.Dense)][-1]
    quant = graph.find(digital.Quantize.kind)[0]
    ref = interp.run(graph, x.astype(np.float64), keep=(quant, last))
    m = folder.manifest
    if simulator == "verilator":
        hw, cycles, _ = simulate_verilator(folder.path, ref[quant], m["output"]["count"], m["input"]["bits"],
                                           m["output"]["bits"])
    else:
        hw, cycles = simulate_amaranth(build_network(graph, int(m["pe"])), ref[quant])
    return {"hardware": hw, "reference": ref[last], "cycles": cycles}
