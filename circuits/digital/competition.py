"""Hebbian's competition: which row of a hidden layer won the forward pass, found while its outputs are written.

``Winner`` is a plain helper that adds its logic to the network's module. It watches a layer's outputs as they
leave (``out_we``: a group's ``slots`` outputs at once, or one per cycle with a serial writeback) and keeps the
first row with the largest output, if that output is positive (``ir.interp_learn``'s winner): rows leave in
order, so a later row replaces the kept one only when it is strictly larger. A ``start`` of the layer clears it.
The comparison costs no cycle: the winner is ready when the layer is done, long before the update pass that
reads it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value, signed

from circuits.digital.dense_unit import DenseUnit


class Winner:
    def __init__(self, m: Module, unit: DenseUnit, name: str) -> None:
        spec = unit.spec
        self.valid = Signal(name=f"{name}_valid")
        self.group = Signal(range(max(spec.groups, 2)), name=f"{name}_group")
        self.slot = Signal(range(max(spec.slots, 2)), name=f"{name}_slot")
        best = Signal(signed(spec.out_bits), name=f"{name}_best")
        if spec.writeback == "serial":
            candidates = [(unit.out_data[0], unit.out_slot, _real(unit, unit.out_slot))]
        else:
            candidates = [(unit.out_data[q], q, _real(unit, q)) for q in range(spec.slots)]
        value: Value = best
        group: Value = self.group
        slot: Value = self.slot
        valid: Value = self.valid
        for data, q, real in candidates:  # in row order: the first of equals stays
            better = real & (data > value)
            value, slot = Mux(better, data, value), Mux(better, q, slot)
            group, valid = Mux(better, unit.out_group, group), valid | better
        with m.If(unit.start):
            m.d.sync += [best.eq(0), self.valid.eq(0)]
        with m.Elif(unit.out_we):
            m.d.sync += [best.eq(value), self.group.eq(group), self.slot.eq(slot), self.valid.eq(valid)]
        m.d.comb += [unit.win_valid.eq(self.valid), unit.win_group.eq(self.group), unit.win_slot.eq(self.slot)]


def _real(unit: DenseUnit, slot: Value | int) -> Value:
    """Whether the output of ``slot`` in the group leaving is a row of the layer (the last group may be short)."""
    spec = unit.spec
    last = (spec.groups - 1) * spec.slots + slot
    return (unit.out_group != spec.groups - 1) | (last < unit.n_out)
