"""Where a layer's outputs live in hardware, and the reads of them (:class:`LayerOutputs`).

A layer with ``spec.store == "memory"`` writes them into block RAM: one bank per slot (slot ``q`` writes row
``g · slots + q`` at word ``g`` when its group ``g`` is done), or with a serial writeback (one output per cycle)
a single bank with row ``r`` at word ``r``, ``halves`` copies of the layer's words deep (two
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
        self.words = spec.groups * spec.slots  # one half of a serial writeback's bank
        if spec.store != "memory":
            return
        if spec.writeback == "serial":  # one output per cycle: one bank, row r at word r
            mem = Memory(shape=signed(spec.out_bits), depth=halves * self.words, init=[], attrs={"ram_style": "block"})
            m.submodules[f"{name}_bank0"] = mem
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(half * self.words + unit.out_group * spec.slots + unit.out_slot),
                         wp.data.eq(unit.out_data[0]), wp.en.eq(unit.out_we)]
            self.banks.append(mem)
            return
        for q in range(spec.slots):
            mem = Memory(shape=signed(spec.out_bits), depth=halves * spec.groups, init=[],
                         attrs={"ram_style": "block"})
            m.submodules[f"{name}_bank{q}"] = mem
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(half * spec.groups + unit.out_group), wp.data.eq(unit.out_data[q]),
                         wp.en.eq(unit.out_we)]
            self.banks.append(mem)

    def _name(self) -> str:
        self.reads += 1
        return f"{self.name}_read{self.reads - 1}"

    def _registered(self, select: Value, rows: dict[int, int]) -> Value:
        """``y[rows[select]]`` one cycle later: a case statement, not a dynamic slice (simulators like it better)."""
        out = Signal(signed(self.unit.spec.out_bits), name=self._name())
        with self.m.Switch(select):
            for case, row in rows.items():
                with self.m.Case(case):
                    self.m.d.sync += out.eq(self.unit.y[row])
        return out

    def read_slot(self, q: int, group: Value) -> Value:
        """Row ``group · slots + q`` (slot ``q``'s output in ``group``), one cycle after the address: one bank's
        read port (a padding row reads whatever is there)."""
        spec = self.unit.spec
        if not self.banks:
            rows = {g: g * spec.slots + q for g in range(spec.groups) if g * spec.slots + q < self.unit.n_out}
            return self._registered(group, rows)
        if spec.writeback == "serial":
            raise ValueError("a layer with a serial writeback keeps its outputs in one bank: a group's slots cannot "
                             "be read at once")
        self._name()  # every read is numbered, the unnamed ones too
        rp = self.banks[q].read_port(transparent_for=())
        self.m.d.comb += rp.addr.eq(group)
        return rp.data

    def read(self, index: Value, half: Value | int = 0) -> Value:
        """Output ``index`` (of copy ``half``), one cycle after the address."""
        m, spec = self.m, self.unit.spec
        if not self.banks:
            return self._registered(index, {o: o for o in range(self.unit.n_out)})
        name = self._name()
        if spec.writeback == "serial":
            rp = self.banks[0].read_port(transparent_for=())
            m.d.comb += rp.addr.eq(half * self.words + index)
            return rp.data
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
