"""Where a layer's outputs live in hardware, and the reads of them (:class:`LayerOutputs`).

A layer with ``spec.store == "memory"`` writes them into block RAM: one bank per slot (slot ``q`` writes row
``g · slots + q`` at word ``g`` when its group ``g`` is done), ``halves`` copies of the layer's words deep (two
for the last layer, so the sender reads one result while the layer writes the next). Every read gets a read port
of its own (yosys gives each its copy of the bank). With ``"registers"`` a read is a registered multiplexer over
the layer's ``y``. Either way the value comes one cycle after the address, so the cycle counts do not depend on
where the outputs live.
"""

from __future__ import annotations

from amaranth import Array, Module, Signal, Value, signed
from amaranth.lib.memory import Memory

from circuits.digital.dense_unit import DenseUnit


class LayerOutputs:
    def __init__(self, m: Module, unit: DenseUnit, name: str, halves: int = 1, half: Value | int = 0) -> None:
        self.m, self.unit, self.name = m, unit, name
        self.banks: list[Memory] = []
        self.reads = 0
        spec = unit.spec
        if spec.store != "memory":
            return
        for q in range(spec.slots):
            mem = Memory(shape=signed(spec.out_bits), depth=halves * spec.groups, init=[],
                         attrs={"ram_style": "block"})
            m.submodules[f"{name}_bank{q}"] = mem
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(half * spec.groups + unit.out_group), wp.data.eq(unit.out_data[q]),
                         wp.en.eq(unit.out_we)]
            self.banks.append(mem)

    def read_slot(self, q: int, group: Value) -> Value:
        """Row ``group · slots + q`` (slot ``q``'s output in ``group``), one cycle after the address: one bank's
        read port (a padding row reads whatever is there)."""
        m, spec = self.m, self.unit.spec
        name = f"{self.name}_read{self.reads}"
        self.reads += 1
        if self.banks:
            rp = self.banks[q].read_port(transparent_for=())
            m.d.comb += rp.addr.eq(group)
            return rp.data
        out = Signal(signed(spec.out_bits), name=name)
        with m.Switch(group):
            for g in range(spec.groups):
                if g * spec.slots + q < self.unit.n_out:
                    with m.Case(g):
                        m.d.sync += out.eq(self.unit.y[g * spec.slots + q])
        return out

    def read(self, index: Value, half: Value | int = 0) -> Value:
        """Output ``index`` (of copy ``half``), one cycle after the address."""
        m, spec = self.m, self.unit.spec
        name = f"{self.name}_read{self.reads}"
        self.reads += 1
        if not self.banks:
            out = Signal(signed(spec.out_bits), name=name)
            with m.Switch(index):  # a case statement, not a dynamic slice: simulators like it better
                for o in range(self.unit.n_out):
                    with m.Case(o):
                        m.d.sync += out.eq(self.unit.y[o])
            return out
        words = []
        for mem in self.banks:
            rp = mem.read_port(transparent_for=())
            m.d.comb += rp.addr.eq(half * spec.groups + index // spec.slots)
            words.append(rp.data)
        if spec.slots == 1:
            return words[0]
        bank = Signal(range(spec.slots), name=f"{name}_bank")
        m.d.sync += bank.eq(index % spec.slots)
        return Array(words)[bank]
