"""map-lanes: decide how each dense layer's multiply-accumulate lanes share its work, and record it in the IR.

With ``lanes`` multipliers for an ``n_out × n_in`` layer, lane ``(q, s)`` owns the rows ``≡ q (mod slots)`` and the
``s``-th of ``segments`` slices of the inputs; the pass picks the split with the fewest cycles
``⌈n_out / slots⌉ · ⌈n_in / segments⌉`` (ties: fewer lanes, then fewer segments), so a layer narrower than the
lanes splits its inputs instead of leaving lanes idle. The result goes into each ``digital.dense``
(``lanes``, ``slots``, ``segments``): the fpga backend reads it and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from compiler.passes.base import Pass, dense_layers
from errors import LoweringError
from ir import Graph
from ir.dialects import digital


def lane_mapping(n_in: int, n_out: int, lanes: int) -> tuple[int, int]:
    """``(slots, segments)`` for ``lanes`` multipliers on an ``n_out × n_in`` layer (see the module docstring)."""
    best: tuple[int, int, int, int, int] | None = None
    for segments in range(1, min(lanes, n_in) + 1):
        slots = min(lanes // segments, n_out)
        cycles = -(-n_out // slots) * -(-n_in // segments)
        key = (cycles, slots * segments, segments, slots, segments)
        if best is None or key < best:
            best = key
    assert best is not None
    return best[3], best[4]


@dataclass(frozen=True)
class MapLanes(Pass):
    name: ClassVar[str] = "map-lanes"
    lanes: int = 8

    def run(self, graph: Graph) -> None:
        if not isinstance(self.lanes, int) or isinstance(self.lanes, bool) or not 1 <= self.lanes <= 1024:
            raise LoweringError(f"--pe must be an integer in [1, 1024], not {self.lanes!r}")
        for node in dense_layers(graph, "to map onto lanes"):
            op = graph.op_as(node, digital.Dense)
            slots, segments = lane_mapping(op.in_features, op.out_features, self.lanes)
            # a writeback or a shared datapath decided for another mapping may not suit this one: serialize-outputs
            # and share-datapath decide them again
            graph.replace(node, replace(op, lanes=self.lanes, slots=slots, segments=segments, writeback="",
                                        datapath="", weight_store=""))
