"""Simulate an emitted SPICE folder over a batch of inputs: in neurocc's fast simulator (the default, for whole
data sets) or in ngspice, on the same checked netlist text."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from backends.folder import check_derived, read_folder
from backends.spice.emit import LAYOUT, MANIFEST_VERSION, derive
from circuits.analog.cards import CheckedNetlist, check_netlist
from circuits.analog.fast import FastCircuit, NewtonError
from circuits.analog.fast_newton import NUMPY, Ops
from circuits.analog.ngspice import run_batch
from circuits.analog.ngspice_shared import run_batch_shared
from errors import ModelFormatError, NeuroccError, SimulationError
from ir import Graph


@dataclass(frozen=True)
class SpiceFolder:
    """A compiled spice folder, checked: every file against its SHA-256, the manifest against what ``model.ncm``
    derives, and the netlist that will run against the card subset neurocc writes. With ``trust_edits`` the
    netlist that runs is ``circuit.cir`` as it is (hand-edited or not); otherwise it is the one ``model.ncm``
    derives (equal to the file, whose hash matched)."""

    path: Path
    netlist: CheckedNetlist
    manifest: dict[str, Any]
    graph: Graph
    edited: bool = False

    @classmethod
    def load(cls, out_dir: str | os.PathLike[str], trust_edits: bool = False) -> SpiceFolder:
        path, manifest, graph, edited = read_folder(out_dir, LAYOUT, MANIFEST_VERSION, ("circuit.cir",),
                                                    trust_edits)
        try:
            text, derived = derive(graph)
        except NeuroccError as e:
            raise ModelFormatError(f"folder {str(path)!r}: model.ncm does not compile to a circuit: {e}") from e
        check_derived(path, manifest, derived)
        if trust_edits:  # the file as it is (edited or not), card by card
            try:
                text = (path / "circuit.cir").read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as e:
                raise ModelFormatError(f"folder {str(path)!r}: circuit.cir is not ASCII netlist text") from e
        netlist = check_netlist(text, f"folder {str(path)!r}: circuit.cir")
        return cls(path, netlist, manifest, graph, bool(edited))


_TILE_NODE = re.compile(r"\b(xb\d+)_t(\d+)_")
"""A node inside a crossbar tile (``<crossbar prefix>_t<tile>_...``), as ngspice names it in its complaints."""

RUNNERS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "shared": run_batch_shared,  # in-process, PySpice's libngspice interface
    "subprocess": run_batch,     # ngspice -b, one process per batch
}
SIMULATORS = ("fast", "ngspice")


def simulate(folder: SpiceFolder, x: np.ndarray, chunk: int = 40, progress: bool = True,
             runner: str = "shared", simulator: str = "ngspice", ops: Ops = NUMPY) -> dict[str, np.ndarray]:
    """The circuit's outputs for inputs ``x`` (n, features): ``logits`` (through the ADC scale), ``volts`` at the
    ADC inputs and ``linear`` (the first crossbar's outputs). ``simulator``: ``fast`` (:mod:`circuits.analog.fast`,
    the whole batch at once, its arithmetic on ``ops``) or ``ngspice`` (``chunk`` inputs per run of ``runner``, one
    of :data:`RUNNERS`)."""
    try:
        return simulate_netlist(folder.netlist, folder.manifest, x, chunk, progress, runner, simulator,
                                folder.path.name, ops)
    except NewtonError as e:
        raise SimulationError(f"test input {e.where.sample} of circuit {folder.path.name!r}: the fast "
                              f"simulator's Newton iteration did not converge at {e.where.element}"
                              f"{_place(folder, e.where.element[1:])} (last residual: a Newton step of "
                              f"{e.where.residual:.3e} V)") from e
    except NgspiceFailure as e:
        tile = _TILE_NODE.search(str(e.error))
        raise NgspiceFailure(e.sample, e.name, e.error, _place(folder, tile.group(0)) if tile else "") from e.error


def simulate_netlist(netlist: CheckedNetlist, manifest: dict[str, Any], x: np.ndarray, chunk: int = 40,
                     progress: bool = False, runner: str = "shared", simulator: str = "fast",
                     name: str = "circuit", ops: Ops = NUMPY) -> dict[str, np.ndarray]:
    """:func:`simulate` on a netlist and the manifest that describes it (no folder: what a sweep compiles)."""
    if simulator not in SIMULATORS:
        raise SimulationError(f"unknown simulator {simulator!r}: must be one of {', '.join(SIMULATORS)}")
    if runner not in RUNNERS:
        raise SimulationError(f"unknown ngspice runner {runner!r}: must be one of {', '.join(RUNNERS)}")
    m = manifest
    sources, scale = m["inputs"]["sources"], m["inputs"]["scale"]
    if x.shape[1] != len(sources):
        raise SimulationError(f"circuit {name!r} takes {len(sources)} inputs, not {x.shape[1]}")
    out_probes, lin_probes = m["outputs"]["probes"], m["linear_probes"]["probes"]
    probes = list(dict.fromkeys(out_probes + lin_probes))
    if simulator == "fast":
        got = FastCircuit(netlist).run(probes, {s: scale * x[:, i] for i, s in enumerate(sources)},
                                       progress=progress, ops=ops)
        return _outputs(manifest, {p: [got[p]] for p in probes})
    run = RUNNERS[runner]
    results: dict[str, list[np.ndarray]] = {p: [] for p in probes}
    starts = range(0, len(x), chunk)
    for start in tqdm(starts, desc="ngspice", unit="batch", disable=not progress, leave=False):
        part = x[start:start + chunk]
        try:
            got = run(netlist, probes, {s: scale * part[:, i] for i, s in enumerate(sources)})
        except SimulationError:
            _name_failing_input(run, netlist, probes, sources, scale, part, start, name)
            raise
        for p in probes:
            results[p].append(got[p])
    return _outputs(manifest, results)


def _outputs(manifest: dict[str, Any], results: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    m = manifest
    volts = np.stack([np.concatenate(results[p]) for p in m["outputs"]["probes"]], axis=1)
    return {"volts": volts, "logits": volts * m["outputs"]["scale"],
            "linear": np.stack([np.concatenate(results[p]) for p in m["linear_probes"]["probes"]], axis=1)}


class NgspiceFailure(SimulationError):
    """ngspice found no operating point for input ``sample`` (``error``: its complaint)."""

    def __init__(self, sample: int, name: str, error: SimulationError, where: str = "") -> None:
        super().__init__(f"ngspice found no operating point for test input {sample} of circuit {name!r}{where}: "
                         f"{error}")
        self.sample, self.name, self.error = sample, name, error


def _place(folder: SpiceFolder, name: str) -> str:
    """Where the node or element (less its letter) ``name`` sits in the model: `` in tile T of crossbar 'fc1'``
    or `` of analog.activation node 'relu1'`` (empty when its prefix is no node's)."""
    nodes = {prefix: node for node, prefix in folder.manifest["names"].items()}
    tile = _TILE_NODE.match(name)
    if tile and tile.group(1) in nodes:
        return f" in tile {tile.group(2)} of crossbar {nodes[tile.group(1)]!r}"
    prefix = re.match(r"([a-z]+\d+)_", name)
    if prefix and prefix.group(1) in nodes:
        return f" of {folder.graph.op(nodes[prefix.group(1)]).kind} node {nodes[prefix.group(1)]!r}"
    return ""


def _name_failing_input(run: Callable[..., dict[str, np.ndarray]], netlist: CheckedNetlist, probes: list[str],
                        sources: list[str], scale: float, part: np.ndarray, start: int, name: str) -> None:
    """Rerun a failed batch one input at a time and raise naming the first input ngspice cannot solve."""
    for j in range(len(part)):
        try:
            run(netlist, probes, {s: scale * part[j:j + 1, i] for i, s in enumerate(sources)})
        except SimulationError as e:
            raise NgspiceFailure(start + j, name, e) from e
