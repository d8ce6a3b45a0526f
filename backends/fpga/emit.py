"""Translate a ``digital`` graph into :class:`circuits.digital.network.Network` and write it out.

The folder holds ``network.v`` (``amaranth.back.verilog``, no source-location attributes, so the same model
gives the same bytes on any checkout; the memories' contents are inside it as initial values), ``mem/*.hex``
(the same contents as ``$readmemh`` images, for other flows), ``manifest.json`` (formats, interface, cycles
per inference, memories and multipliers; with a learning engine, its rule, formats and cycles per training
sample) and ``model.ncm`` (the quantized graph, the reference ``neurocc verify`` runs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from amaranth.back import verilog as amaranth_verilog

from backends.folder import Layout, write_folder
from circuits.digital.network import (
    LayerSpec,
    LearnSpec,
    Network,
    latency,
    period,
    training_period,
)
from circuits.digital.shared_network import SharedNetwork, bias_bits, bias_words, lane_words
from errors import BackendError, UnsupportedOpError
from ir import Graph
from ir.dialects import digital, nn
from ir.interp_learn import (
    HEBB_MEAN_FRAC,
    HEBB_MEAN_SHIFT,
    bias_input,
    layer_rules,
    learn_op,
    trainable,
)

MANIFEST_VERSION = 3
BUILD_DIRS = ("build", "build-failed")
BUILD_FILES = (r"neurocc_board\.(?:il|ys|pcf|lpf|json|asc|config|bin|bit|svf|rpt|tim|debug\.v)",
               r"build_neurocc_board\.(?:sh|bat|json)", r"neurocc_network\.v", r"build\.sh", r"build\.log",
               r"nextpnr\.json", r"report\.(?:json|txt)")
"""What a board build writes into ``build/`` (``build-failed/`` for a build that failed: its logs)."""
LAYOUT = Layout("fpga", (r"network\.v", r"model\.ncm", r"source\.ncm", r"mem/layer\d+_lane\d+_weights\.hex",
                         r"mem/layer\d+_slot\d+_bias\.hex", r"mem/lane\d+_weights\.hex", r"mem/biases\.hex",
                         r"learning\.png", r"verilator/.+",
                         *(f"{d}/{f}" for d in BUILD_DIRS for f in BUILD_FILES)),
                dirs=(r"mem", r"verilator(?:/.+)?", *BUILD_DIRS))
"""What an fpga folder holds (``verilator/``: the builds of earlier versions, which built in the folder;
``build/``: ``neurocc build``'s)."""
MAX_WEIGHTS = 1 << 22
"""The most weights a network may have on the fpga target (more than any FPGA neurocc targets holds)."""


def layer_specs(graph: Graph) -> tuple[list[LayerSpec], list[str]]:
    """One spec per ``digital.dense`` (with the requantization after it, its lanes as ``map-lanes`` mapped
    them), and the dense node names: every number from the IR."""
    graph.verify()
    weights = sum(op.in_features * op.out_features for _, op in graph.nodes() if isinstance(op, digital.Dense))
    if weights > MAX_WEIGHTS:
        raise UnsupportedOpError(f"graph {graph.name!r} has {weights} weights, more than the {MAX_WEIGHTS} the fpga "
                                 "target builds")
    learning = _layer_learning(graph)
    learn = learn_op(graph)
    biases = learn is not None and learn.biases
    specs: list[LayerSpec] = []
    names: list[str] = []
    for node in graph.toposort():
        op = graph.op(node)
        if isinstance(op, digital.Dense):
            (user, _, _), = graph.users(node)
            after = graph.op(user)
            if not op.mapped:
                raise UnsupportedOpError(f"node {node!r} is not mapped onto lanes for the fpga target: run map-lanes "
                                         "first")
            table: tuple[int, ...] = ()
            if isinstance(after, digital.Requantize):
                shift, fn, out_bits, out_frac = after.in_frac - after.out_frac, after.fn, after.out_bits, after.out_frac
                if after.table:
                    shift, table = after.in_frac - after.table_frac, tuple(graph.params[after.table].tolist())
            elif isinstance(after, digital.Dequantize):
                shift, fn, out_bits, out_frac = 0, "identity", op.acc_bits, 0  # the raw accumulator leaves
            else:
                raise UnsupportedOpError(f"node {user!r} ({after.kind}) cannot follow a dense layer on the fpga target")
            labels = learn.labels if learn is not None and learn.labels and not specs else ""
            weights, bias, constant = trainable(graph.params, op, False, labels).tolist(), \
                graph.params[op.bias].tolist(), 0
            if biases:  # learned: the last weight column, the weight of a constant input 1.0
                weights, bias, constant = trainable(graph.params, op, True, labels).tolist(), [0] * op.out_features, \
                    bias_input(op)
            if labels:  # forward-forward: the label inputs' weights, after the inputs
                learning[node] = {**learning.get(node, {}), "label_columns": graph.params[labels].shape[1],
                                  "label_input": 1 << op.in_frac}
            specs.append(LayerSpec(weights, bias, op.in_bits,
                                   op.w_bits, op.acc_bits, shift, fn, out_bits, out_frac, op.slots, op.segments, table,
                                   clamp=digital.hardtanh_one(out_frac), store=op.store or "registers",
                                   bias_store=op.bias_store or "logic", multipliers=op.multipliers or "own",
                                   writeback=op.writeback or "parallel", mac_registers=op.mac_registers,
                                   datapath=op.datapath or "layer", weight_store=op.weight_store or "bram",
                                   bias_input=constant, **learning.get(node, {})))
            names.append(node)
        elif not isinstance(op, (nn.Input, nn.Output, digital.Quantize, digital.Requantize, digital.Dequantize)) \
                and (op.inputs or op.outputs):
            raise UnsupportedOpError(f"node {node!r} ({op.kind}) is not lowered for the fpga target: run quantize "
                                     "first")
    if not specs:
        raise UnsupportedOpError(f"graph {graph.name!r} has no digital.dense layer for the fpga target")
    for name, spec in zip(names, specs, strict=True):
        if spec.datapath != specs[0].datapath:
            raise UnsupportedOpError(f"node {name!r} has datapath {spec.datapath!r}, node {names[0]!r} "
                                     f"{specs[0].datapath!r}: every layer runs on a datapath of its own or all share "
                                     "one (run share-datapath)")

    return specs, names


def _layer_learning(graph: Graph) -> dict[str, dict[str, Any]]:
    """Per dense node, the :class:`LayerSpec` fields of its learning engine (none without a ``digital.learn``)."""
    learn = learn_op(graph)
    if learn is None:
        return {}
    return {rule.node: {"learn": rule.kind, "learn_shift": rule.shift, "decay_shift": rule.decay_shift,
                        "coef_bits": bits, "perturbs": rule.perturbed,
                        "perturb_shift": graph.op_as(rule.node, digital.Dense).w_frac if rule.perturbed else 0,
                        **({"mean_frac": HEBB_MEAN_FRAC, "mean_shift": HEBB_MEAN_SHIFT, "hebb_align": rule.hebb_align,
                            "threshold_step": rule.threshold_step} if rule.kind == "hebbian" else {})}
            for rule, bits in zip(layer_rules(graph), learn.coef_bits, strict=True)}


def learn_spec(graph: Graph) -> LearnSpec | None:
    """The error path's numbers from the graph's ``digital.learn`` op (``None`` without one)."""
    learn = learn_op(graph)
    if learn is None:
        return None
    rules = layer_rules(graph)
    last = graph.op(rules[-1].node)
    assert isinstance(last, digital.Dense)
    feedback = tuple(tuple(tuple(row) for row in graph.params[r.feedback].tolist()) if r.feedback else ()
                     for r in rules)
    return LearnSpec(last.acc_frac - learn.err_frac, learn.err_bits, learn.err_frac, feedback,
                     tuple((r.fn, digital.hardtanh_one(r.out_frac)) for r in rules),
                     tuple(r.feedback_shift for r in rules), learn.rule == "fa",
                     *_modulation(graph, learn), learn.goodness,
                     tuple(tuple(graph.params[name].tolist()) for name in learn.sigmoid),
                     hinge=learn.rule == "hebbian")


def _modulation(graph: Graph, learn: digital.Learn) -> tuple[tuple[tuple[int, ...], ...], int]:
    """PEPITA's ±1 rows projecting the error onto the input, and that sum's shift (``(), 0`` for other rules or
    a network without hidden layers)."""
    if learn.rule != "pepita" or not learn.feedback[0]:
        return (), 0
    return tuple(tuple(row) for row in graph.params[learn.feedback[0]].tolist()), learn.feedback_shift[0]


def build_network(graph: Graph) -> Network | SharedNetwork:
    """The hardware of the graph: its layers on a datapath each, or on the one they share (``datapath``)."""
    specs, _ = layer_specs(graph)
    if specs[0].datapath == "shared":
        return SharedNetwork(specs)
    return Network(specs, learn_spec(graph))


def forward_multipliers(specs: list[LayerSpec]) -> int:
    """The forward pass's multipliers: every "own" layer's lanes, and the widest "shared" layer's lanes once (on a
    shared datapath: its lanes)."""
    own = sum(s.slots * s.segments for s in specs if s.multipliers == "own")
    return own + max((s.slots * s.segments for s in specs if s.multipliers == "shared"), default=0)


def lanes_of(graph: Graph) -> int:
    """The lanes ``map-lanes`` gave the layers (the compile's ``--pe``)."""
    lanes = {op.lanes for _, op in graph.nodes() if isinstance(op, digital.Dense)}
    if len(lanes) != 1:
        raise UnsupportedOpError(f"graph {graph.name!r} must map every layer onto one lane count, not "
                                 f"{sorted(lanes)!r}")
    return lanes.pop()


def manifest(graph: Graph) -> dict[str, Any]:
    """The folder's manifest (without its ``files`` table), from the graph alone."""
    specs, names = layer_specs(graph)
    lanes = lanes_of(graph)
    quant = graph.op(graph.find(digital.Quantize.kind)[0])
    deq = graph.op(graph.find(digital.Dequantize.kind)[0])
    assert isinstance(quant, digital.Quantize) and isinstance(deq, digital.Dequantize)
    layers = []
    for name, spec in zip(names, specs, strict=True):
        layers.append({"node": name, "in": spec.n_in, "out": spec.n_out, "lanes": spec.slots * spec.segments,
                       "slots": spec.slots, "segments": spec.segments, "cycles": spec.cycles,
                       "mac_bound": -(-spec.n_in * spec.n_out // lanes),
                       "w_bits": spec.w_bits, "acc_bits": spec.acc_bits, "out_bits": spec.out_bits,
                       "shift": spec.shift, "activation": spec.fn, "multipliers": spec.multipliers,
                       "writeback": spec.writeback, "mac_registers": spec.mac_registers})
    multipliers = forward_multipliers(specs)
    doc = {
        "format": "neurocc-fpga", "version": MANIFEST_VERSION, "model": graph.name, "pe": lanes,
        "input": {"count": specs[0].n_in, "bits": quant.bits, "frac": quant.frac},
        "output": {"count": specs[-1].n_out, "bits": specs[-1].out_bits, "frac": deq.frac},
        "interface": {"i": "lib.stream, one input integer per transfer", "o": "lib.stream, one output per transfer"},
        "layers": layers,
        "cycles_per_inference": period(specs), "latency_cycles": latency(specs),
        "datapath": specs[0].datapath, "multipliers": multipliers,
        # "loaded": the weights are not in the bitstream (SPRAM); a host writes them all before the first input
        "weights": "loaded" if specs[0].weight_store == "spram" else "bitstream",
        "weight_memories": multipliers if specs[0].datapath == "shared" else sum(s.slots * s.segments for s in specs),
        "layer_shapes": [[s.n_out, s.columns] for s in specs], "w_bits": [s.w_bits for s in specs],
        **({"board": graph.meta["board"]} if "board" in graph.meta else {}),
    }
    learn, engine = learn_op(graph), learn_spec(graph)
    if learn is not None and engine is not None:
        doc["learning"] = {
            "rule": learn.rule, "lr_shift": learn.lr_shift, "err_bits": learn.err_bits, "err_frac": learn.err_frac,
            "seed": learn.seed, "biases": learn.biases,
            "layers": [{"node": n, "update": s.learn, "shift": s.learn_shift, "coef_bits": s.coef_bits}
                       for n, s in zip(names, specs, strict=True)],
            "cycles_per_training_sample": training_period(specs, engine),
            "interface": "train=1 (changed only while idle): each input's words are followed by its label; the "
                         "prediction leaves on o, then every weight updates",
        }
    return doc


def memory_files(net: Network | SharedNetwork) -> dict[str, str]:
    """``$readmemh`` images of every weight and bias memory (two's complement, one word per line, in the order the
    lanes read them), named ``mem/layer<k>_lane<p>_weights.hex`` and ``mem/layer<k>_slot<q>_bias.hex``; on a shared
    datapath ``mem/lane<p>_weights.hex`` (every layer's rows, layer after layer) and ``mem/biases.hex`` (the drain's
    table: each bias plus its layer's rounding half, in drain order)."""
    def hexwords(values: list[int], bits: int) -> str:
        digits = -(-bits // 4)
        return "".join(f"{v & ((1 << bits) - 1):0{digits}x}\n" for v in values)

    if isinstance(net, SharedNetwork):
        specs, w_bits = net.specs, max(s.w_bits for s in net.specs)
        lanes = {f"mem/lane{q}_weights.hex": hexwords(lane_words(specs, q), w_bits) for q in range(net.lanes)}
        return {**lanes, "mem/biases.hex": hexwords(bias_words(specs), bias_bits(specs))}
    files = {}
    for k, unit in enumerate(net.units):
        spec = unit.spec
        for q in range(spec.slots):
            for s in range(spec.segments):
                lane = q * spec.segments + s
                files[f"mem/layer{k}_lane{lane}_weights.hex"] = hexwords(spec.lane_weights(q, s), spec.w_bits)
            files[f"mem/layer{k}_slot{q}_bias.hex"] = hexwords(spec.lane_bias(q), spec.acc_bits)
    return files


def verilog(net: Network | SharedNetwork) -> str:
    """``network.v``. Memories the bitstream cannot initialise (a shared datapath's SPRAM weights) lose the
    initial block Amaranth writes for every memory (all zeros for them): yosys maps an initialised memory to
    block RAM or logic, never to SPRAM, and the host loads those weights through the weight port."""
    text = amaranth_verilog.convert(net, name="neurocc_network", emit_src=False)
    for name in getattr(net, "uninitialised", ()):
        text, count = re.subn(rf"(\n  reg \[\d+:0\] {name} \[\d+:0\];\n)  initial begin\n"
                              rf"(?:    {name}\[\d+\] = \d+'h0+;\n)*  end\n", r"\1", text)
        if count != 1:
            raise BackendError(f"memory {name!r}: its initial block was not found once in the Verilog, but "
                                     f"{count} times")
    return text


def emit(graph: Graph, out_dir: str | os.PathLike[str], source: Graph | None = None,
         inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write the folder (see the module docstring) atomically; ``inputs`` are the files the compile read, which
    ``out_dir`` must not hold."""
    net = build_network(graph)
    texts = {"network.v": verilog(net), **memory_files(net)}
    return write_folder(out_dir, LAYOUT, texts, manifest(graph), graph, source, inputs)
