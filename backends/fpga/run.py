"""Load an emitted FPGA folder and run host programs on its hardware (Verilator or the Amaranth simulator)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backends.folder import check_derived, read_folder
from backends.fpga.emit import LAYOUT, MANIFEST_VERSION, build_network, verilog
from backends.fpga.emit import manifest as manifest_of
from backends.fpga.program import Infer, LoadWeights, Result, Step, Streamed
from backends.fpga.sim import simulate_amaranth
from backends.fpga.verilator import simulate_verilator
from errors import ConfigError, ModelFormatError, NeuroccError
from ir import Graph, interp
from ir.dialects import digital
from ir.interp_learn import learn_op, trainable


@dataclass(frozen=True)
class FpgaFolder:
    """A compiled fpga folder, checked: every file against its SHA-256 and the manifest against what
    ``model.ncm`` derives. ``network.v`` itself is checked against the Verilog
    ``model.ncm`` derives before Verilator ever builds it (:func:`backends.fpga.verilator.build`)."""

    path: Path
    manifest: dict[str, Any]
    graph: Graph

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str], trust_edits: bool = False) -> FpgaFolder:
        if trust_edits:
            raise ConfigError("--trust-edits accepts a hand-edited circuit.cir of a spice folder; an fpga folder's "
                              "network.v is always checked against model.ncm: recompile instead")
        path, manifest, graph, _ = read_folder(out_dir, LAYOUT, MANIFEST_VERSION, ("network.v",))
        try:
            derived = manifest_of(graph)
        except NeuroccError as e:
            raise ModelFormatError(f"folder {str(path)!r}: model.ncm does not compile to hardware: {e}") from e
        check_derived(path, manifest, derived)
        return cls(path, manifest, graph)

    @property
    def learns(self) -> bool:
        return "learning" in self.manifest

    def verilog(self) -> str:
        """The Verilog ``model.ncm`` derives (what ``network.v`` must be, byte for byte)."""
        return verilog(build_network(self.graph))


SIMULATORS = ("verilator", "amaranth")


def input_codes(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The integer input words the hardware takes for float inputs ``x``."""
    quant = graph.find(digital.Quantize.kind)[0]
    return interp.run(graph, x.astype(np.float64), keep=(quant,))[quant].astype(np.int64)


def run_steps(folder: FpgaFolder, steps: list[Step], simulator: str = "verilator",
              progress: bool = False) -> list[Result]:
    """Run a host program on the folder's hardware: Verilator on the emitted ``network.v``, or the Amaranth
    simulator on the same design rebuilt from ``model.ncm``. Where the bitstream holds no weights (the manifest's
    ``weights`` is "loaded"), the host writes them all first, as it must on a board."""
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}: must be one of {', '.join(SIMULATORS)}")
    loaded = folder.manifest.get("weights") == "loaded"
    if loaded:
        steps = [LoadWeights(tuple(model_weights(folder.graph))), *steps]
    if simulator == "verilator":
        results = simulate_verilator(folder, steps, progress)[0]
    else:
        results = simulate_amaranth(build_network(folder.graph), steps)
    return results[1:] if loaded else results


def model_weights(graph: Graph) -> list[np.ndarray]:
    """Every dense layer's integer weights, in order, as the weight port addresses them: forward-forward's label
    weights after the first layer's inputs, and with learned biases each row's bias (as the weight of the
    constant input 1.0) in the last column."""
    learn = learn_op(graph)
    biases = learn is not None and learn.biases
    labels = learn.labels if learn is not None else ""  # forward-forward's label weights: the first layer's
    dense = [graph.op(n) for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
    return [trainable(graph.params, op, biases, labels if k == 0 else "") for k, op in enumerate(dense)
            if isinstance(op, digital.Dense)]


def run_hardware(folder: FpgaFolder, x: np.ndarray, simulator: str = "verilator") -> dict[str, Any]:
    """The hardware's output words for float inputs ``x`` beside the integer reference's, and cycle counts."""
    graph = folder.graph
    last = [n for n, op in graph.nodes() if isinstance(op, digital.Dense)][-1]
    ref = interp.run(graph, x.astype(np.float64), keep=(last,))
    result, = run_steps(folder, [Infer(input_codes(graph, x))], simulator)
    assert isinstance(result, Streamed)
    return {"hardware": result.words, "reference": ref[last], "cycles": result.cycles}
