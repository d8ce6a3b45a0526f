"""Load an emitted FPGA folder and run host programs on its hardware (Verilator or the Amaranth simulator)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.folder import read_folder
from backends.fpga.emit import MANIFEST_VERSION, build_network
from backends.fpga.program import Infer, Result, Step, Streamed
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
        folder = cls(*read_folder(out_dir, "fpga", ("network.v",)))
        if folder.manifest.get("version") != MANIFEST_VERSION:
            raise ModelFormatError(f"folder {str(folder.path)!r} holds a version {folder.manifest.get('version')!r} "
                                   f"fpga manifest; this neurocc reads version {MANIFEST_VERSION}: compile it again")
        return folder

    @property
    def learns(self) -> bool:
        return "learning" in self.manifest


SIMULATORS = ("verilator", "amaranth")


def input_codes(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The integer input words the hardware takes for float inputs ``x``."""
    quant = graph.find(digital.Quantize.kind)[0]
    return interp.run(graph, x.astype(np.float64), keep=(quant,))[quant].astype(np.int64)


def run_steps(folder: FpgaFolder, steps: list[Step], simulator: str = "verilator",
              progress: bool = False) -> list[Result]:
    """Run a host program on the folder's hardware: Verilator on the emitted ``network.v``, or the Amaranth
    simulator on the same design rebuilt from ``model.ncm``."""
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}: must be one of {', '.join(SIMULATORS)}")
    if simulator == "verilator":
        return simulate_verilator(folder.path, steps, folder.manifest, progress)[0]
    return simulate_amaranth(build_network(folder.graph, int(folder.manifest["pe"])), steps)


def run_hardware(folder: FpgaFolder, x: np.ndarray, simulator: str = "verilator") -> dict[str, Any]:
    """The hardware's output words for float inputs ``x`` beside the integer reference's, and cycle counts."""
    graph = folder.graph
    last = [n for n, op in graph.nodes() if isinstance(op, digital.Dense)][-1]
    ref = interp.run(graph, x.astype(np.float64), keep=(last,))
    result, = run_steps(folder, [Infer(input_codes(graph, x))], simulator)
    assert isinstance(result, Streamed)
    return {"hardware": result.words, "reference": ref[last], "cycles": result.cycles}
