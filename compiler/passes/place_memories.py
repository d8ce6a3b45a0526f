"""place-memories: decide where each dense layer's outputs and biases live in hardware, and record it in the IR.

- **Outputs** are read by the next layer one word per port and cycle, and by the host link one word per transfer:
  block RAM serves that ("memory"), and on an iCE40 it costs one RAM block where registers cost a logic cell per
  bit (512 for 64 eight-bit outputs, plus the multiplexer that picks one). A learning engine reads some layers'
  outputs all at once (the output error from every prediction in one cycle, each row's coefficient from its
  layer's output): those layers keep them in "registers".
- **Biases** are read one per group, so a read-only block RAM holds them ("memory") when the table has at least
  :data:`BIAS_MEMORY_BITS` bits; a smaller one costs fewer logic cells than the RAM block is worth ("logic").

``fit-device`` moves biases, then outputs, back to logic where a device runs short of block RAM. The fpga backend
reads ``digital.dense.store`` and ``bias_store`` and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from compiler.passes.base import Pass
from errors import LoweringError
from ir import Graph
from ir.dialects import digital
from ir.interp_learn import layer_rules, learn_op

BIAS_MEMORY_BITS = 256
"""The smallest bias table (outputs × the bits its values need) that goes to block RAM."""


def bias_bits(bias: np.ndarray) -> int:
    """The narrowest two's complement width that holds every bias (as ``LayerSpec.bias_bits`` counts it)."""
    return max(2, *(max(int(b), -int(b) - 1).bit_length() + 1 for b in bias.ravel()))


@dataclass(frozen=True)
class PlaceMemories(Pass):
    name: ClassVar[str] = "place-memories"

    def run(self, graph: Graph) -> None:
        dense = [n for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
        if not dense:
            raise LoweringError(f"graph {graph.name!r} has no digital.dense layer to place memories for: run "
                                "quantize first")
        read_at_once: set[str] = set()
        if learn_op(graph) is not None:  # the error reads the predictions; a rule reads its own layer's outputs
            read_at_once = {dense[-1], *(rule.node for rule in layer_rules(graph) if rule.kind)}
        for node in dense:
            op = graph.op_as(node, digital.Dense)
            table = op.out_features * bias_bits(graph.params[op.bias])
            graph.replace(node, replace(op, store="registers" if node in read_at_once else "memory",
                                        bias_store="memory" if table >= BIAS_MEMORY_BITS else "logic"))
