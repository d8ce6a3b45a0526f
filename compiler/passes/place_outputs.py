"""place-outputs: decide where each dense layer's outputs live in hardware, and record it in the IR.

A layer's outputs are read by the next layer one word per port and cycle, and by the host link one word per
transfer: block RAM serves that ("memory"), and on an iCE40 it costs one RAM block where registers cost one logic
cell per bit (512 for 64 eight-bit outputs, plus the multiplexer that picks one). A learning engine reads some
layers' outputs all at once (the output error from every prediction in one cycle, each row's coefficient from its
layer's output): those layers keep them in "registers". The fpga backend reads ``digital.dense.store`` and decides
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from compiler.passes.base import Pass
from errors import LoweringError
from ir import Graph
from ir.dialects import digital
from ir.interp_learn import layer_rules, learn_op


@dataclass(frozen=True)
class PlaceOutputs(Pass):
    name: ClassVar[str] = "place-outputs"

    def run(self, graph: Graph) -> None:
        dense = [n for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
        if not dense:
            raise LoweringError(f"graph {graph.name!r} has no digital.dense layer to place outputs for: run quantize "
                                "first")
        read_at_once: set[str] = set()
        if learn_op(graph) is not None:  # the error reads the predictions; a rule reads its own layer's outputs
            read_at_once = {dense[-1], *(rule.node for rule in layer_rules(graph) if rule.kind)}
        for node in dense:
            op = graph.op_as(node, digital.Dense)
            graph.replace(node, replace(op, store="registers" if node in read_at_once else "memory"))
