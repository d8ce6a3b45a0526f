"""Hebbian's competition: which row of a hidden layer won the forward pass, found while its outputs are written.

``Winner`` is a plain helper that adds its logic to the network's module. It watches a layer's outputs as they
leave (``out_we``: a group's ``slots`` outputs at once, or one per cycle with a serial writeback) and keeps the
first row with the largest output, if that output is positive (``ir.interp_learn``'s winner): rows leave in
order, so a later row replaces the kept one only when it is strictly larger. A ``start`` of the layer clears it.
The comparison (a cycle after the outputs leave) costs the pass no cycle: the winner is ready long before the
update pass that reads it.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value, signed

from circuits.digital.dense_unit import DenseUnit
from circuits.digital.layer_spec import real_row


class Winner:
    def __init__(self, m: Module, unit: DenseUnit, name: str) -> None:
        spec = unit.spec
        self.valid = Signal(name=f"{name}_valid")
        self.group = Signal(range(max(spec.groups, 2)), name=f"{name}_group")
        self.slot = Signal(range(max(spec.slots, 2)), name=f"{name}_slot")
        best = Signal(signed(spec.out_bits), name=f"{name}_best")
        # the outputs leaving are registered first: compared as they leave, they lengthened the requantizer's path
        # (the design's longest on an iCE40)
        seen, seen_group = Signal(name=f"{name}_seen"), Signal.like(unit.out_group, name=f"{name}_seen_group")
        m.d.sync += [seen.eq(unit.out_we), seen_group.eq(unit.out_group)]
        ports = range(spec.out_ports)
        data = [Signal(signed(spec.out_bits), name=f"{name}_seen{q}") for q in ports]
        m.d.sync += [d.eq(unit.out_data[q]) for q, d in zip(ports, data, strict=True)]
        if spec.writeback == "serial":
            seen_slot = Signal.like(unit.out_slot, name=f"{name}_seen_slot")
            m.d.sync += seen_slot.eq(unit.out_slot)
            candidates: list[tuple[Value, Value | int]] = [(data[0], seen_slot)]
        else:
            candidates = [(data[q], q) for q in range(spec.slots)]
        value: Value = best
        group: Value = self.group
        slot: Value = self.slot
        valid: Value = self.valid
        for d, q in candidates:  # in row order: the first of equals stays
            better = real_row(spec, seen_group, q) & (d > value)
            value, slot = Mux(better, d, value), Mux(better, q, slot)
            group, valid = Mux(better, seen_group, group), valid | better
        with m.If(unit.start):
            m.d.sync += [best.eq(0), self.valid.eq(0)]
        with m.Elif(seen):
            m.d.sync += [best.eq(value), self.group.eq(group), self.slot.eq(slot), self.valid.eq(valid)]
        m.d.comb += [unit.win_valid.eq(self.valid), unit.win_group.eq(self.group), unit.win_slot.eq(self.slot)]

