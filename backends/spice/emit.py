"""Translate a lowered ``analog`` graph into a netlist and manifest (see the package docstring)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backends.folder import write_folder
from circuits.analog.activation import add_behavioural, add_rectifier, add_row_drivers
from circuits.analog.crossbar import add_crossbar
from circuits.analog.netlist import GROUND, Netlist, safe_name
from ir import Graph
from ir.dialects import analog, nn
from ir.errors import UnsupportedOpError
from ir.interp_analog import crossbar_circuit

MANIFEST_VERSION = 1


def build(graph: Graph) -> tuple[Netlist, dict[str, Any]]:
    """The netlist of ``graph`` and the manifest describing it."""
    graph.verify()
    net = Netlist(f"neurocc {graph.name}")
    manifest: dict[str, Any] = {"format": "neurocc-spice", "version": MANIFEST_VERSION, "model": graph.name,
                                "tiles": {}, "budget_volts": graph.meta.get("analog_budget_volts"),
                                "fullscale_volts": graph.meta.get("analog_fullscale_volts")}
    plus: dict[str, list[str]] = {}  # node → its output voltage nodes
    first_crossbar = True
    for node in graph.toposort():
        op = graph.op(node)
        p = safe_name(node)
        if not op.inputs and not op.outputs:
            continue  # learn ops: no circuit
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
            plus[node] = plus[src]
        elif isinstance(op, nn.Output):
            manifest["output_name"] = op.name
        else:
            raise UnsupportedOpError(f"node {node!r} ({op.kind}) is not lowered for the spice target: run "
                                     "lower-analog first")
    return net, manifest


def emit(graph: Graph, out_dir: str | os.PathLike[str], source: Graph | None = None) -> Path:
    """Write ``circuit.cir``, ``manifest.json``, ``model.ncm`` (and ``source.ncm``, the float model before
    lowering, when given) into ``out_dir`` atomically."""
    net, manifest = build(graph)
    manifest["elements"] = net.count
    return write_folder(out_dir, {"circuit.cir": net.text()}, manifest, graph, source)
