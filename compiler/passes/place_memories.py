"""place-memories: decide where each dense layer's outputs and biases live in hardware, and record it in the IR.

- **Outputs** are read by the next layer one word per port and cycle, and by the host link one word per transfer:
  block RAM serves that ("memory"), and on an iCE40 it costs one RAM block where registers cost a logic cell per
  bit (512 for 64 eight-bit outputs, plus the multiplexer that picks one). A learning engine reads the last
  layer's outputs all at once (the output error from every prediction in one cycle), so there they stay in
  "registers"; a hidden layer's it reads a row (DFA's delta phase) or a group (the update pass) at a time.
- **Biases** are read one per group, so a read-only block RAM holds them ("memory") when the table has at least
  :data:`BIAS_MEMORY_BITS` bits; a smaller one costs fewer logic cells than the RAM block is worth ("logic").

``fit-device`` moves biases, then outputs, back to logic where a device runs short of block RAM. The fpga backend
reads ``digital.dense.store`` and ``bias_store`` and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from circuits.digital.layer_spec import signed_width
from compiler.passes.base import Pass, dense_layers
from ir import Graph
from ir.dialects import digital
from ir.interp_learn import learn_op

BIAS_MEMORY_BITS = 256
"""The smallest bias table (outputs × the bits its values need) that goes to block RAM."""


@dataclass(frozen=True)
class PlaceMemories(Pass):
    name: ClassVar[str] = "place-memories"

    def run(self, graph: Graph) -> None:
        dense = dense_layers(graph, "to place memories for")
        read_at_once = {dense[-1]} if learn_op(graph) is not None else set()  # the error reads every prediction
        for node in dense:
            op = graph.op_as(node, digital.Dense)
            table = op.out_features * signed_width(graph.params[op.bias].tolist())  # the bias memory's bits
            graph.replace(node, replace(op, store="registers" if node in read_at_once else "memory",
                                        bias_store="memory" if table >= BIAS_MEMORY_BITS else "logic"))
