"""Translate a lowered ``analog`` graph into a netlist and manifest (see the package docstring)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from backends.folder import Layout, write_folder
from circuits.analog.activation import add_behavioural, add_rectifier, add_row_drivers
from circuits.analog.crossbar import add_crossbar
from circuits.analog.netlist import GROUND, Netlist
from errors import UnsupportedOpError
from ir import Graph
from ir.dialects import analog, nn
from ir.interp_analog import crossbar_circuit

MANIFEST_VERSION = 2
LAYOUT = Layout("spice", (r"circuit\.cir", r"model\.ncm", r"source\.ncm", r"conductances\.png", r"verify\.png"),
                editable=("circuit.cir",))
"""What a spice folder holds; ``circuit.cir`` may be edited by hand (``--trust-edits``)."""
PREFIXES: dict[type, str] = {nn.Input: "x", analog.Dac: "dac", analog.Crossbar: "xb", analog.Activation: "act",
                            analog.Adc: "adc"}
"""Op type → the stem of its generated netlist prefix (``xb3``: the node at position 3 in dependency order)."""


MAX_DEVICES = 1 << 24
"""The most crossbar devices one netlist holds (Fashion-MNIST 784-256-10 has 0.4 million)."""


def build(graph: Graph) -> tuple[Netlist, dict[str, Any]]:
    """The netlist of ``graph`` and the manifest describing it."""
    graph.verify()
    devices = sum(2 * op.rows * op.out_features for _, op in graph.nodes() if isinstance(op, analog.Crossbar))
    if devices > MAX_DEVICES:
        raise UnsupportedOpError(f"graph {graph.name!r} has {devices} crossbar devices, more than the {MAX_DEVICES} "
                                 "one netlist holds")
    net = Netlist(f"neurocc {graph.name}")
    manifest: dict[str, Any] = {"format": "neurocc-spice", "version": MANIFEST_VERSION, "model": graph.name,
                                "tiles": {}, "names": {}}
    plus: dict[str, list[str]] = {}  # node → its output voltage nodes
    first_crossbar = True
    for k, node in enumerate(graph.toposort()):
        op = graph.op(node)
        if not op.inputs and not op.outputs:
            continue  # learn ops: no circuit
        p = f"{PREFIXES[type(op)]}{k}" if type(op) in PREFIXES else ""
        if p:
            manifest["names"][node] = p
        if isinstance(op, nn.Input):
            plus[node] = [f"{p}_{i}" for i in range(op.shape[0])]
            continue
        src = graph.sources(node)[0][0] if op.inputs else None
        if isinstance(op, analog.Dac):
            assert src is not None
            names = []
            for i, n in enumerate(plus[src]):
                net.vsource(f"{p}_{i}", n, GROUND, 0.0)
                names.append(f"v{p}_{i}")
            manifest["inputs"] = {"sources": names, "scale": op.scale}
            plus[node] = plus[src]
        elif isinstance(op, analog.Crossbar):
            assert src is not None
            inputs = list(plus[src])
            if op.bias_volts is not None:
                inputs.append(f"{p}_bias")
                net.vsource(f"{p}_bias", f"{p}_bias", GROUND, op.bias_volts)
            drivers = [add_row_drivers(net, f"{p}_row{i}", n) for i, n in enumerate(inputs)]
            rows_p, rows_n = [d[0] for d in drivers], [d[1] for d in drivers]
            xb = crossbar_circuit(op, graph.params)
            plus[node] = add_crossbar(net, p, xb, rows_p, rows_n)
            manifest["tiles"][node] = [list(t) for t in xb.tiles()]
            if first_crossbar:
                manifest["linear_probes"] = {"node": node, "probes": plus[node]}
                first_crossbar = False
        elif isinstance(op, analog.Activation):
            assert src is not None
            if op.fn == "relu":
                plus[node] = [add_rectifier(net, f"{p}_{i}", n, -op.in_gain, op.opamp_gain, op.r_in)
                              for i, n in enumerate(plus[src])]
            else:
                plus[node] = [add_behavioural(net, f"{p}_{i}", op.fn, n, op.in_gain, op.out_scale)
                              for i, n in enumerate(plus[src])]
        elif isinstance(op, analog.Adc):
            assert src is not None
            manifest["outputs"] = {"probes": plus[src], "scale": op.scale}
            manifest["budget_volts"], manifest["fullscale_volts"] = op.budget_volts, op.fullscale_volts
            plus[node] = plus[src]
        elif isinstance(op, nn.Output):
            manifest["output_name"] = op.name
        else:
            raise UnsupportedOpError(f"node {node!r} ({op.kind}) is not lowered for the spice target: run "
                                     "lower-analog first")
    _check_complete(graph, manifest)
    return net, manifest


def _check_complete(graph: Graph, manifest: dict[str, Any]) -> None:
    """One input, DAC, ADC and output and at least one crossbar: what simulation and verification read from the
    manifest."""
    for kind, what in ((nn.Input.kind, "input"), (analog.Dac.kind, "analog.dac"), (analog.Adc.kind, "analog.adc"),
                       (nn.Output.kind, "output")):
        found = graph.find(kind)
        if len(found) != 1:
            raise UnsupportedOpError(f"graph {graph.name!r} must have one {what} for the spice target, not "
                                     f"{len(found)}: run lower-analog on a single-input, single-output network")
    (inp,) = graph.find(nn.Input.kind)
    shape = graph.op_as(inp, nn.Input).shape
    if len(shape) != 1:
        raise UnsupportedOpError(f"input {inp!r} must be a vector for the spice target, not of shape {shape!r}")
    if "linear_probes" not in manifest:
        raise UnsupportedOpError(f"graph {graph.name!r} has no analog.crossbar: run lower-analog first")


def derive(graph: Graph) -> tuple[str, dict[str, Any]]:
    """The netlist text and manifest (without its ``files`` table) that ``graph`` compiles to."""
    net, manifest = build(graph)
    manifest["elements"] = net.count
    return net.text(), manifest


def emit(graph: Graph, out_dir: str | os.PathLike[str], source: Graph | None = None,
         inputs: Iterable[str | os.PathLike[str]] = (), finish: Callable[[Path], None] | None = None) -> Path:
    """Write ``circuit.cir``, ``manifest.json``, ``model.ncm`` (and ``source.ncm``, the float model before
    lowering, when given; and whatever ``finish`` writes, such as plots) into ``out_dir`` atomically; ``inputs``
    are the files the compile read, which ``out_dir`` must not hold."""
    text, manifest = derive(graph)
    return write_folder(out_dir, LAYOUT, {"circuit.cir": text}, manifest, graph, source, inputs, finish)
