"""fit-device: make the lane mapping fit a board's device, or say why it cannot, before place and route runs.

With ``lanes="auto"`` the pass tries every lane count from 1 to :data:`MAX_AUTO_LANES`, maps the layers
(:func:`compiler.passes.map_lanes.lane_mapping`) and keeps the mapping with the fewest cycles per inference
(per training sample for a learning design) whose multipliers and block RAMs the device holds
(:mod:`backends.fpga.resources`); ties go to fewer lanes. For a learning design it also asks yosys for the
mapping's logic (:mod:`backends.fpga.logic`, on the iCE40) and steps down to the next fastest mapping while the
estimate exceeds the device's logic cells. With a number it checks that mapping. A design that
cannot fit is an error naming the resource, what the design needs, what the device has, and a lane count that
fits. The mapping goes into each ``digital.dense``, as ``map-lanes`` writes it. Where a mapping runs short of
multipliers, the layers share one set (``share-multipliers``: they run one after another). Every mapping gets
its writeback decided afresh (``serialize-outputs``: it depends on the mapping), and every layer the registers
around its multipliers that the family wants (``Family.mac_registers``, ``learn_mac_registers`` with a learning engine).
Where it runs short of block RAM only because ``place-memories`` put bias tables or layer outputs there, the
pass moves them back to logic (biases first), and records that too; on a family whose small memories belong in logic
(``Family.small_memories_in_bram``: the ECP5) it moves them all. Every layer runs on the datapath the family
prefers (``Family.datapath``: one lane array shared by all layers on the iCE40, ``share-datapath``; a datapath per
layer elsewhere, and always for a learning engine) unless ``datapath`` says which; on a shared datapath the bias
table moves to logic and then the weights to SPRAM (where the device has it: the host loads them) where block
RAM runs short. The board goes into the graph's metadata (``board``): ``neurocc build``
builds for it unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from backends.fpga.boards import Board, get_board
from backends.fpga.emit import layer_specs, learn_spec
from backends.fpga.logic import checks_logic, logic_estimate
from backends.fpga.resources import shortfall
from circuits.digital.network import period, training_period
from compiler.passes.base import Pass
from compiler.passes.map_lanes import MapLanes
from compiler.passes.serialize_outputs import SerializeOutputs
from compiler.passes.share_datapath import ShareDatapath
from compiler.passes.share_multipliers import ShareMultipliers
from errors import LoweringError
from ir import Graph
from ir.dialects import digital
from ir.interp_learn import learn_op

MAX_AUTO_LANES = 64


def _map(graph: Graph, lanes: int, placed: dict[str, tuple[str, str, str]], board: Board, shared: bool) -> None:
    """Map the layers onto ``lanes`` with their memories and multipliers as ``placed`` says (on one shared
    datapath if ``shared``), then fit the multipliers and the memories to ``board``."""
    MapLanes(lanes=lanes).run(graph)
    if shared:  # where block RAM runs short: the bias table to logic, then the weights to SPRAM if the device has it
        ShareDatapath().run(graph)
        for moves in ({"bias_store": "logic"}, {"bias_store": "logic", "weight_store": "spram"}):
            lack = shortfall(layer_specs(graph)[0], board, learn_spec(graph))
            spram_fits = board.spram and all(op.w_bits <= digital.SPRAM_WORD for _, op in graph.nodes()
                                             if isinstance(op, digital.Dense))
            if lack is None or lack[0] != board.family.bram or ("weight_store" in moves and not spram_fits):
                return
            ShareDatapath(**moves).run(graph)
        return
    # A learning design's registers: YoWASP's yosys 0.70 fails on the ECP5 on-chip DFA design with operand
    # registers (an assertion in abc9's reintegration, rtlil.cc:3091), not with the product's alone.
    family = board.family
    registers = family.mac_registers if learn_op(graph) is None else family.learn_mac_registers
    for node, (store, bias_store, multipliers) in placed.items():
        graph.replace(node, replace(graph.op_as(node, digital.Dense), store=store, bias_store=bias_store,
                                    multipliers=multipliers, mac_registers=registers))
    SerializeOutputs().run(graph)
    lack = shortfall(layer_specs(graph)[0], board, learn_spec(graph))
    if lack is not None and lack[0] == board.family.dsp and len(placed) > 1:
        ShareMultipliers().run(graph)
    _fit_memories(graph, board)
    SerializeOutputs().run(graph)  # outputs moved to registers may now leave serially too


def _fit_memories(graph: Graph, board: Board) -> None:
    """Where the device runs short of block RAM, move bias tables, then layer outputs (the last layer's first),
    from block RAM to logic until it no longer does (or nothing is left to move)."""
    dense = [n for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
    for outputs in (False, True):
        for node in reversed(dense):
            lack = shortfall(layer_specs(graph)[0], board, learn_spec(graph))
            if lack is None or lack[0] != board.family.bram:
                return
            op = graph.op_as(node, digital.Dense)
            if outputs and op.store == "memory":
                graph.replace(node, replace(op, store="registers"))
            elif not outputs and op.bias_store == "memory":
                graph.replace(node, replace(op, bias_store="logic"))


def _assess(graph: Graph, board: Board) -> tuple[int, tuple[str, int, int] | None]:
    """Cycles per inference (per training sample for a learning design) of the graph as mapped, and what it
    lacks on ``board`` (``None``: it fits)."""
    specs, _ = layer_specs(graph)
    engine = learn_spec(graph)
    cycles = period(specs) if engine is None else training_period(specs, engine)
    return cycles, shortfall(specs, board, engine)


@dataclass(frozen=True)
class FitDevice(Pass):
    name: ClassVar[str] = "fit-device"
    board: str = "icebreaker"
    lanes: int | str = "auto"
    datapath: str = "auto"

    @staticmethod
    def _within_logic(graph: Graph, options: list[tuple[int, int]], placed: dict[str, tuple[str, str, str]],
                      board: Board, shared: bool) -> list[tuple[int, int]]:
        """A learning design: the fastest of ``options`` whose logic estimate (``backends.fpga.logic``: yosys)
        the device holds, alone (``[]``: none does). Unchecked where the family's yosys is missing (the build
        will say) or unknown."""
        if not options or not checks_logic(board.family):
            return options
        for cycles, lanes in options:
            _map(graph, lanes, placed, board, shared)
            if logic_estimate(graph, board.family) <= board.logic:
                return [(cycles, lanes)]
        return []

    def run(self, graph: Graph) -> None:
        board = get_board(self.board)
        if self.lanes != "auto" and not (isinstance(self.lanes, int) and not isinstance(self.lanes, bool)):
            raise LoweringError(f"--pe must be a lane count or 'auto', not {self.lanes!r}")
        if self.datapath not in ("auto", "layer", "shared"):
            raise LoweringError(f"--datapath must be layer, shared or auto, not {self.datapath!r}")
        learning = learn_op(graph) is not None
        family_choice = "layer" if learning else board.family.datapath  # learning engines need a datapath per layer
        shared = (family_choice if self.datapath == "auto" else self.datapath) == "shared"
        dense = [(n, op) for n, op in graph.nodes() if isinstance(op, digital.Dense)]
        placed = {n: (op.store, op.bias_store, "") for n, op in dense}  # sharing multipliers is this pass's call
        if not board.family.small_memories_in_bram:
            placed = {n: ("registers", "logic", "") for n in placed}
        options: list[tuple[int, int]] = []
        for lanes in range(1, MAX_AUTO_LANES + 1):
            _map(graph, lanes, placed, board, shared)
            cycles, lack = _assess(graph, board)
            if lack is None:
                options.append((cycles, lanes))
        if self.lanes == "auto" and learning:
            options = self._within_logic(graph, sorted(options), placed, board, shared)
        best = min(options) if options else None
        chosen = best[1] if self.lanes == "auto" and best is not None else self.lanes
        _map(graph, 1 if not isinstance(chosen, int) else chosen, placed, board, shared)
        _, lack = _assess(graph, board)
        if lack is None and best is None and self.lanes == "auto":  # every mapping outgrew the device's logic
            raise LoweringError(f"the design at --pe auto needs more {board.family.logic} than the {board.device} on "
                                f"{board.name} has ({board.logic}) at every lane count (yosys's estimate): use a "
                                "larger board or fewer weight bits")
        if lack is None:
            graph.meta["board"] = board.name  # what ``neurocc build`` builds for unless told otherwise
            return
        cell, need, have = lack
        where = f"{board.device} on {board.name}"
        unit = "training sample" if learn_spec(graph) is not None else "inference"
        hint = f"--pe {best[1]} fits ({best[0]} cycles per {unit})" if best is not None else \
            "no lane count fits: use a larger board or fewer weight bits"
        what = "--pe auto" if self.lanes == "auto" else f"--pe {self.lanes}"
        raise LoweringError(f"the design at {what} needs {need} {cell}, the {where} has {have}; {hint}")
