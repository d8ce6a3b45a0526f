"""Forward-forward's learning path in hardware, exactly as ``ir.interp_learn`` defines it: the label the first
layer sees, each hidden layer's goodness and probability, and its deltas.

``Goodness`` is a plain helper that adds its logic to the network's module (as :class:`ErrorUnit
<circuits.digital.error_unit.ErrorUnit>` does, whose delta memories it writes). While the readout updates, it
scans the unlabelled pass's outputs (the last layer's registers) one per cycle for the wrong label scored
highest; then the network's sequencer runs it twice: a positive pass (the true label) and a negative one (that
wrong label). After a pass through the hidden layers:

- **measure** (``max rows + 1`` cycles): one row of every hidden layer per cycle is read from where the outputs
  live and its square added to the layer's goodness ``G``;
- **weigh** (two cycles: the table's index is registered): ``p = T[sat_6(round(±(θ − G) / 2^g)) + 32]``, each
  layer's table a read-only memory;
- **write** (``max rows + 1`` cycles): one row per cycle, ``d = ∓p · h`` into the layer's delta memory (a bank
  per slot, as the update pass reads it), and then every hidden layer updates by the delta rule.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib.memory import Memory

from circuits.digital.dense_unit import DenseUnit
from circuits.digital.error_unit import ErrorUnit, LearnSpec
from circuits.digital.layer_spec import saturate, shift_round
from circuits.digital.outputs import LayerOutputs

P_BITS = 7
"""A probability ``0 … 2^6`` (``ir.interp_learn.FF_P_FRAC``)."""
INDEX_BITS = 6
"""A rounded distance ``−32 … 31`` (``ir.interp_learn.FF_TABLE`` entries)."""


def goodness_cycles(units: list[DenseUnit]) -> int:
    """Cycles of the measure phase (and of the write phase): one per row of the widest hidden layer, and one."""
    return max(u.n_out for u in units[:-1]) + 1


class Goodness:
    def __init__(self, m: Module, spec: LearnSpec, engine: ErrorUnit, units: list[DenseUnit],
                 outputs: list[LayerOutputs], label_in: Value) -> None:
        self.m, self.spec, self.units = m, spec, units
        classes = units[-1].n_out
        self.classes = classes
        self.rows = goodness_cycles(units) - 1
        self.row = Signal(range(self.rows + 1), name="ff_row")
        self.measuring, self.writing = Signal(name="ff_measuring"), Signal(name="ff_writing")
        self.weighing = Signal(name="ff_weighing")
        self.negative = Signal(name="ff_negative")  # the pass's sign: the negative pass lowers the goodness
        self.label_on = Signal(name="ff_label_on")
        self.label = Signal(range(max(classes, 2)), name="ff_label")
        self._scan(label_in)
        with m.If((self.measuring | self.writing) & (self.row < self.rows)):
            m.d.sync += self.row.eq(self.row + 1)
        with m.Elif(~self.measuring & ~self.writing):
            m.d.sync += self.row.eq(0)
        for k in range(len(units) - 1):
            self._layer(k, engine, outputs[k])

    def _scan(self, label: Value) -> None:
        """The wrong label scored highest: ``scan`` counts through the outputs from ``scan_start`` (the error's
        cycle), keeping the first largest of those that are not ``label``; done when it reaches ``K``."""
        m, y = self.m, self.units[-1].y
        self.scan = Signal(range(self.classes + 1), init=self.classes, name="ff_scan")
        self.wrong = Signal(range(max(self.classes, 2)), name="ff_wrong")
        best, found = Signal.like(y[0], name="ff_best"), Signal(name="ff_found")
        # output ``scan`` is read into a register, and compared a cycle later (the multiplexer and the comparison
        # in one cycle were the design's longest path)
        value, index = Signal.like(y[0], name="ff_scanned"), Signal.like(self.wrong, name="ff_scanned_index")
        self.comparing = Signal(name="ff_comparing")
        with m.Switch(self.scan):
            for o in range(self.classes):
                with m.Case(o):
                    m.d.sync += value.eq(y[o])
        m.d.sync += [index.eq(self.scan), self.comparing.eq(self.scan < self.classes)]
        with m.If(self.scan < self.classes):
            m.d.sync += self.scan.eq(self.scan + 1)
        with m.If(self.comparing & (index != label) & (~found | (value > best))):
            m.d.sync += [best.eq(value), self.wrong.eq(index), found.eq(1)]
        self.scan_start = [self.scan.eq(0), found.eq(0)]

    @property
    def scanned(self) -> Value:
        """The wrong label is known (from ``K + 2`` cycles after ``scan_start``)."""
        return (self.scan == self.classes) & ~self.comparing

    def positive(self, label: Value) -> list:
        """Statements that start the positive pass (with the true ``label``)."""
        return [self.label_on.eq(1), self.label.eq(label), self.negative.eq(0)]

    def negative_pass(self) -> list:
        """Statements that start the negative pass (with the wrong label scored highest)."""
        return [self.label.eq(self.wrong), self.negative.eq(1)]

    def stop(self) -> list:
        """Statements that end the sample's passes: no label (the network as exported)."""
        return [self.label_on.eq(0)]

    def _layer(self, k: int, engine: ErrorUnit, outputs: LayerOutputs) -> None:
        m, unit = self.m, self.units[k]
        spec = unit.spec
        threshold, shift = self.spec.goodness[k]
        h = outputs.read(Mux(self.row < unit.n_out, self.row, unit.n_out - 1))
        valid, row = Signal(name=f"ff{k}_valid"), Signal.like(self.row, name=f"ff{k}_row")
        m.d.sync += [valid.eq(self.row < unit.n_out), row.eq(self.row)]
        square = Signal(unsigned(2 * spec.out_bits), name=f"ff{k}_square")
        m.d.comb += square.eq(h * h)
        total = Signal(unsigned(2 * spec.out_bits + unit.n_out.bit_length()), name=f"ff{k}_goodness")
        with m.If(self.measuring & (self.row == 0)):
            m.d.sync += total.eq(0)
        with m.Elif(self.measuring & valid):
            m.d.sync += total.eq(total + square)
        distance = Signal(signed(len(total) + 2), name=f"ff{k}_distance")
        m.d.comb += distance.eq(Mux(self.negative, total - threshold, threshold - total))
        index = Signal(range(1 << INDEX_BITS), name=f"ff{k}_index")  # registered: valid in the weigh phase's
        #                                                                 second cycle
        m.d.sync += index.eq(saturate(shift_round(distance, shift), INDEX_BITS) + (1 << (INDEX_BITS - 1)))
        m.submodules[f"ff{k}_sigmoid"] = rom = Memory(shape=unsigned(P_BITS), depth=1 << INDEX_BITS,
                                                      init=list(self.spec.sigmoid[k]), attrs={"ram_style": "logic"})
        port = rom.read_port(domain="comb")
        p = Signal(unsigned(P_BITS), name=f"ff{k}_p")
        m.d.comb += port.addr.eq(index)
        with m.If(self.weighing):
            m.d.sync += p.eq(port.data)
        delta = Signal(signed(spec.coef_bits), name=f"ff{k}_delta")
        scaled = Signal(signed(P_BITS + spec.out_bits + 1), name=f"ff{k}_scaled")
        m.d.comb += [scaled.eq(p * h), delta.eq(Mux(self.negative, scaled, -scaled))]
        for q, mem in enumerate(engine._delta_banks(k)):
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(row // spec.slots), wp.data.eq(delta),
                         wp.en.eq(self.writing & valid & (row % spec.slots == q) & (self.row > 0))]

    @property
    def last(self) -> Value:
        """High in the last cycle of a measure or write phase."""
        return self.row == self.rows
