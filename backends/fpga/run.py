"""Load an emitted FPGA folder and run its hardware against the integer reference."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import ir
from backends.fpga.emit import build_network
from backends.fpga.sim import simulate_amaranth
from backends.fpga.verilator import simulate_verilator
from ir import Graph, interp
from ir.dialects import digital
from ir.errors import ConfigError, ModelFormatError


@dataclass(frozen=True)
class FpgaFolder:
    path: Path
    manifest: dict[str, Any]
    graph: Graph

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str]) -> FpgaFolder:
        path = Path(out_dir)
        for name in ("network.v", "manifest.json", "model.ncm"):
            if not (path / name).is_file():
                raise ModelFormatError(f"folder {str(path)!r} is not a compiled fpga target: {name} is missing")
        manifest = json.loads((path / "manifest.json").read_text())
        if manifest.get("format") != "neurocc-fpga":
            raise ModelFormatError(f"{str(path / 'manifest.json')!r} is not a neurocc fpga manifest")
        return cls(path, manifest, ir.load(path / "model.ncm"))


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
