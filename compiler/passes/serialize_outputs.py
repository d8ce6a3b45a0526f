"""serialize-outputs: decide how each dense layer's outputs leave its lanes, and record it in the IR.

A layer's ``slots`` finish a group of outputs together, and then spend ``L = ⌈in / segments⌉`` cycles on the
next group. With a **parallel** writeback every slot has its own requantizer (rounding adder, activation and
saturation) and the group leaves in one cycle, into a bank of block RAM per slot. With a **serial** writeback one
requantizer takes the group's totals one per cycle, and the outputs go into one bank: ``slots − 1`` requantizers
and banks fewer, for ``slots − 1`` more cycles per layer pass (the last group drains). It needs ``L ≥ slots``
(the next group's totals arrive ``L`` cycles later), so the pass chooses serial wherever that holds, except where
an update pass reads a group of the layer's own outputs at once from block RAM (Oja, Hebbian: one bank cannot
give ``slots`` words in a cycle).

It runs after ``map-lanes`` and ``place-memories`` (it reads the mapping and where outputs live); ``fit-device``
runs it again for every mapping it tries. The fpga backend reads ``digital.dense.writeback`` and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from compiler.passes.base import Pass, dense_layers
from errors import LoweringError
from ir import Graph
from ir.dialects import digital
from ir.interp_learn import layer_rules, learn_op

READS_OWN_GROUP = ("oja", "hebbian")
"""Update rules whose coefficients are the layer's own outputs, a group at a time."""


def serial_fits(op: digital.Dense, rule: str) -> bool:
    """Whether a serial writeback serves ``op`` (mapped) under learning rule ``rule`` ("" without one)."""
    return op.slots > 1 and op.seg_len >= op.slots and not (op.store == "memory" and rule in READS_OWN_GROUP)


@dataclass(frozen=True)
class SerializeOutputs(Pass):
    name: ClassVar[str] = "serialize-outputs"

    def run(self, graph: Graph) -> None:
        dense = dense_layers(graph, "to serialize outputs for")
        rules = {r.node: r.kind for r in layer_rules(graph)} if learn_op(graph) is not None else {}
        for node in dense:
            op = graph.op_as(node, digital.Dense)
            if not op.mapped:
                raise LoweringError(f"node {node!r} is not mapped onto lanes: run map-lanes before serialize-outputs")
            graph.replace(node, replace(op, writeback="serial" if serial_fits(op, rules.get(node, "")) else
                                        "parallel"))
