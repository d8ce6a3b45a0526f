"""share-datapath: decide that every dense layer runs on one array of lanes that the whole network shares, and
record it in the IR.

The layers run one after another, so one set of lanes can compute them all: lane ``q`` takes the rows ``≡ q
(mod slots)`` of every layer, ``slots = min(lanes, out_features)``, over all its inputs (one segment). Each lane
is a weight memory and one multiply-accumulate cell (an iCE40 ``SB_MAC16`` takes the multiplier, the operand
registers and the accumulator whole), and one requantizer drains the lanes one output per cycle (a serial
writeback) into block RAM. Against a datapath per layer (``map-lanes``' own lanes, accumulators and
requantizers for every layer) it needs one layer's logic instead of every layer's, for a few more cycles: no
split of a narrow layer's inputs over segments, a cycle per group to restart the accumulators, and the last
group's drain per layer (``LayerSpec.cycles``).

It computes inference only: an on-chip learning engine updates every layer at once and needs each layer's own
lanes. It runs after ``map-lanes`` (it keeps the lane count) and ``place-memories``; the biases of all layers are
one table (read in drain order), in block RAM when it holds at least
:data:`compiler.passes.place_memories.BIAS_MEMORY_BITS` bits, unless ``bias_store`` says where. The weights go
to block RAM (their values in the bitstream) unless ``weight_store="spram"`` puts them in the iCE40 UltraPlus'
single-port RAMs (four of 16K 16-bit words: the lanes share one address, so one word holds two lanes' 8-bit
weights), which the bitstream cannot initialise: a host loads them through the weight port. ``fit-device``
runs it for the families whose multiplier cells accumulate (``Family.datapath``). The fpga backend reads
``digital.dense.datapath`` and decides nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from circuits.digital.layer_spec import signed_width
from compiler.passes.base import Pass, dense_layers
from compiler.passes.place_memories import BIAS_MEMORY_BITS
from errors import LoweringError
from ir import Graph
from ir.dialects import digital
from ir.interp_learn import learn_op


@dataclass(frozen=True)
class ShareDatapath(Pass):
    name: ClassVar[str] = "share-datapath"
    bias_store: str = ""
    weight_store: str = ""

    def run(self, graph: Graph) -> None:
        if self.bias_store not in digital.BIAS_STORES:
            raise LoweringError(f"share-datapath: bias_store must be one of "
                                f"{', '.join(map(repr, digital.BIAS_STORES))}, not {self.bias_store!r}")
        if self.weight_store not in digital.WEIGHT_STORES:
            raise LoweringError(f"share-datapath: weight_store must be one of "
                                f"{', '.join(map(repr, digital.WEIGHT_STORES))}, not {self.weight_store!r}")
        dense = dense_layers(graph, "to share a datapath between")
        if learn_op(graph) is not None:
            raise LoweringError(f"graph {graph.name!r} has an on-chip learning engine: the shared datapath computes "
                                "inference only (every layer updates at once on lanes of its own); use --datapath "
                                "layer")
        ops = [graph.op_as(node, digital.Dense) for node in dense]
        for node, op in zip(dense, ops, strict=True):
            if not op.mapped:
                raise LoweringError(f"node {node!r} is not mapped onto lanes: run map-lanes before share-datapath")
            if self.weight_store == "spram" and op.w_bits > digital.SPRAM_WORD:
                raise LoweringError(f"node {node!r} has {op.w_bits}-bit weights: an SPRAM word holds at most "
                                    f"{digital.SPRAM_WORD}")
        table = sum(op.out_features * signed_width(graph.params[op.bias].tolist()) for op in ops)
        bias_store = self.bias_store or ("memory" if table >= BIAS_MEMORY_BITS else "logic")
        for node, op in zip(dense, ops, strict=True):
            graph.replace(node, replace(op, datapath="shared", slots=min(op.lanes, op.out_features), segments=1,
                                        writeback="serial", multipliers="shared", mac_registers=0, store="memory",
                                        bias_store=bias_store, weight_store=self.weight_store or "bram"))
