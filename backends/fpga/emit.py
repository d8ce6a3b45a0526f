"""Translate a ``digital`` graph into :class:`circuits.digital.network.Network` and write it out.

The folder holds ``network.v`` (``amaranth.back.verilog``, no source-location attributes, so the same model
gives the same bytes on any checkout; the memories' contents are inside it as initial values), ``mem/*.hex``
(the same contents as ``$readmemh`` images, for other flows), ``manifest.json`` (formats, interface, cycles per inference, memories and
multipliers) and ``model.ncm`` (the quantized graph, the reference ``neurocc verify`` runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backends.folder import write_folder
from circuits.digital.network import LayerSpec, Network
from ir import Graph
from ir.dialects import digital, nn
from ir.errors import ConfigError, UnsupportedOpError

MANIFEST_VERSION = 1


def layer_specs(graph: Graph) -> tuple[list[LayerSpec], list[str]]:
    """One spec per ``digital.dense`` (with the requantization after it), and the dense node names."""
    graph.verify()
    specs, names = [], []
    for node in graph.toposort():
        op = graph.op(node)
        if isinstance(op, digital.Dense):
            (user, _, _), = graph.users(node)
            after = graph.op(user)
            if isinstance(after, digital.Requantize):
                shift, fn, out_bits, out_frac = after.in_frac - after.out_frac, after.fn, after.out_bits, after.out_frac
            elif isinstance(after, digital.Dequantize):
                shift, fn, out_bits, out_frac = 0, "identity", op.acc_bits, 0  # the raw accumulator leaves
            else:
                raise UnsupportedOpError(f"node {user!r} ({after.kind}) cannot follow a dense layer on the fpga target")
            specs.append(LayerSpec(graph.params[op.weight].tolist(), graph.params[op.bias].tolist(), op.in_bits,
                                   op.w_bits, op.acc_bits, shift, fn, out_bits, out_frac))
            names.append(node)
        elif not isinstance(op, (nn.Input, nn.Output, digital.Quantize, digital.Requantize, digital.Dequantize)) \
                and (op.inputs or op.outputs):
            raise UnsupportedOpError(f"node {node!r} ({op.kind}) is not lowered for the fpga target: run quantize "
                                     "first")
    if not specs:
        raise UnsupportedOpError(f"graph {graph.name!r} has no digital.dense layer for the fpga target")
    return specs, names


def build_network(graph: Graph, lanes: int) -> Network:
    if not isinstance(lanes, int) or lanes < 1:
        raise ConfigError(f"--pe must be a positive integer, not {lanes!r}")
    specs, _ = layer_specs(graph)
    return Network(specs, lanes)


def manifest(graph: Graph, net: Network, lanes: int) -> dict[str, Any]:
    specs, names = layer_specs(graph)
    quant = graph.op(graph.find(digital.Quantize.kind)[0])
    deq = graph.op(graph.find(digital.Dequantize.kind)[0])
    layers = []
    for name, spec, unit in zip(names, specs, net.units):
        layers.append({"node": name, "in": unit.n_in, "out": unit.n_out, "lanes": unit.lanes,
                       "cycles": unit.groups * (unit.n_in + 2), "mac_bound": -(-unit.n_in * unit.n_out // lanes),
                       "w_bits": spec.w_bits, "acc_bits": spec.acc_bits, "out_bits": spec.out_bits,
                       "shift": spec.shift, "activation": spec.fn})
    copy_cycles = sum(u.n_out for u in net.units[:-1])
    return {
        "format": "neurocc-fpga", "version": MANIFEST_VERSION, "model": graph.name, "pe": lanes,
        "input": {"count": net.n_in, "bits": quant.bits, "frac": quant.frac},   # type: ignore[attr-defined]
        "output": {"count": net.n_out, "bits": specs[-1].out_bits, "frac": deq.frac},  # type: ignore[attr-defined]
        "interface": {"i": "lib.stream, one input integer per transfer", "o": "lib.stream, one output per transfer"},
        "layers": layers,
        "cycles_per_inference": net.n_in + sum(x["cycles"] for x in layers) + copy_cycles + len(layers) + net.n_out,
        "multipliers": sum(u.lanes for u in net.units),
        "weight_memories": sum(u.lanes for u in net.units),
    }


def memory_files(net: Network) -> dict[str, str]:
    """``$readmemh`` images of every weight and bias memory (two's complement, one word per line, in the order the
    lanes read them), named ``mem/layer<k>_lane<p>_{weights,bias}.hex``."""
    def hexwords(values: list[int], bits: int) -> str:
        digits = -(-bits // 4)
        return "".join(f"{v & ((1 << bits) - 1):0{digits}x}\n" for v in values)

    files = {}
    for k, unit in enumerate(net.units):
        for p in range(unit.lanes):
            rows = range(p, unit.groups * unit.lanes, unit.lanes)
            weights = [w for o in rows for w in (unit.weights[o] if o < unit.n_out else [0] * unit.n_in)]
            bias = [unit.bias[o] if o < unit.n_out else 0 for o in rows]
            files[f"mem/layer{k}_lane{p}_weights.hex"] = hexwords(weights, unit.w_bits)
            files[f"mem/layer{k}_lane{p}_bias.hex"] = hexwords(bias, unit.acc_bits)
    return files


def verilog(net: Network) -> str:
    from amaranth.back import verilog as back

    return back.convert(net, name="neurocc_network", emit_src=False)


def emit(graph: Graph, out_dir: str | os.PathLike[str], lanes: int = 8, source: Graph | None = None) -> Path:
    net = build_network(graph, lanes)
    texts = {"network.v": verilog(net), **memory_files(net)}
    return write_folder(out_dir, texts, manifest(graph, net, lanes), graph, source)
