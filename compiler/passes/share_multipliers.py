"""share-multipliers: decide whether the dense layers' forward passes share one set of multipliers, and record it.

The layers of a network run one after another (a layer starts when the one before it is done), so in any cycle
at most one layer multiplies weights by inputs. With ``share=True`` every ``digital.dense`` gets
``multipliers="shared"``: the hardware builds one multiplier per lane of the widest layer, as wide as the widest
weights and inputs, and gives them to the layer started last. A layer needs ``lanes`` multipliers of its own
otherwise ("own"): the digits network at 8 lanes needs 16 multiplier cells, an iCE40 UP5K has 8. Sharing costs
a selector per operand bit in logic and changes no cycle count. A learning layer's update pass multiplies too,
but every layer updates at once, so those products stay the layer's own.

``fit-device`` runs this pass where a device runs short of multipliers. The fpga backend reads
``digital.dense.multipliers`` and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from compiler.passes.base import Pass, dense_layers
from errors import LoweringError
from ir import Graph
from ir.dialects import digital


@dataclass(frozen=True)
class ShareMultipliers(Pass):
    name: ClassVar[str] = "share-multipliers"
    share: bool = True

    def run(self, graph: Graph) -> None:
        if not isinstance(self.share, bool):
            raise LoweringError(f"share-multipliers: share must be true or false, not {self.share!r}")
        for node in dense_layers(graph, "to share multipliers between"):
            graph.replace(node, replace(graph.op_as(node, digital.Dense),
                                        multipliers="shared" if self.share else "own"))
