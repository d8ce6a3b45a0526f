"""The learning engine's error path: the output error from the label, DFA's hidden deltas through fixed ±1
feedback matrices, and every learning layer's update coefficients, exactly as ``ir.interp_learn`` defines them.

``ErrorUnit`` is a plain helper that adds its logic to the network's module. ``load`` computes
``e_o = sat(round(y_o / 2^err_shift)) − [o = label] · 2^err_frac`` for every output in one cycle (from the last
layer's registers; Hebbian's hinge keeps only a shortfall at the label and an excess elsewhere). The **delta
phase** (DFA with hidden layers) then takes one hidden row per cycle: it reads the
row's ±1 signs (a read-only table of ``n_out``-bit words) and its activity ``h_r`` (where the layer's outputs
live, :class:`circuits.digital.outputs.LayerOutputs`), and one cycle later writes ``d_r = f'(h_r) · Σ_o ±e_o`` (an
adder tree over the outputs) into the layer's delta memory: a bank per slot, row ``g · slots + q`` at word ``g``,
as the update pass reads it. Every hidden layer runs at once, so the phase takes ``max rows + 1`` cycles.
``coefficients`` hands every learning layer its coefficient, one cycle after the group it asks for: the error
(last layer), the delta (hidden DFA layers) or the layer's own output (Oja, Hebbian).
With PEPITA the delta phase instead writes the input's modulation ``p₀`` (``modulation_phase``, one input per
cycle, the same sign table and adder tree), and each hidden layer's perturbation pass results, masked by the
derivative, go into its delta memory (``perturbation``), where the next layer's pass reads them
(``perturbation_input``) and the update pass takes them as coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Array, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib.memory import Memory

from circuits.digital.dense_unit import DenseUnit
from circuits.digital.layer_spec import saturate, shift_round, times
from circuits.digital.outputs import LayerOutputs


@dataclass(frozen=True)
class LearnSpec:
    """Everything numeric the error path needs (decided by the ``onchip-learning`` pass)."""
    err_shift: int                                   # acc_frac of the last layer − err_frac
    err_bits: int
    err_frac: int
    feedback: tuple[tuple[tuple[int, ...], ...], ...]  # per layer: ±1 rows (n_rows × n_source), () if none
    derivative: tuple[tuple[str, int], ...]          # per layer: (activation, hardtanh's 1.0) for the mask
    feedback_shift: tuple[int, ...] = ()             # per layer: the rounding shift of the sum carried back
    chained: bool = False                            # FA: a hidden layer's source is the next layer's delta
    modulation: tuple[tuple[int, ...], ...] = ()     # PEPITA: ±1 rows (n_in × n_out) projecting the error
    modulation_shift: int = 0                        # PEPITA: that sum's rounding shift
    goodness: tuple[tuple[int, int], ...] = ()       # FF: per hidden layer, the threshold and the distance's shift
    sigmoid: tuple[tuple[int, ...], ...] = ()        # FF: per hidden layer, the probability table
    hinge: bool = False                              # Hebbian's readout: no error past the target

    @property
    def has_feedback(self) -> bool:
        return any(self.feedback)

    def shift(self, k: int) -> int:
        return self.feedback_shift[k] if self.feedback_shift else 0

    def from_error(self, k: int) -> bool:
        """Whether layer ``k``'s delta is carried back from the output error (every hidden layer's with DFA, the
        last hidden layer's with FA): the delta phase forms it, one row per cycle."""
        return bool(self.feedback[k]) and (not self.chained or k == len(self.feedback) - 2)

    @property
    def delta_cycles(self) -> int:
        """Cycles of the delta phase: one per row of the widest layer it serves, and one for the last write."""
        rows = [len(fb) for k, fb in enumerate(self.feedback) if self.from_error(k)]
        if self.modulation:  # (its sums are registered before they are written: one cycle more)
            rows.append(len(self.modulation) + 1)
        return max(rows) + 1 if rows else 0

    @property
    def forward_forward(self) -> bool:
        """Forward-forward: positive and negative passes through the hidden layers after the readout's update
        (:mod:`circuits.digital.goodness`)."""
        return bool(self.goodness)

    @property
    def perturbs(self) -> bool:
        """PEPITA (with a hidden layer): the delta phase modulates the input, and every hidden layer then runs a
        perturbation pass (:meth:`ErrorUnit.perturbation`)."""
        return bool(self.modulation)

    def backward_layers(self) -> list[int]:
        """FA: the hidden layers whose delta comes from the next layer's, in the order they are formed."""
        return [k for k in range(len(self.feedback) - 1, -1, -1) if self.feedback[k] and not self.from_error(k)]


BACKWARD_TABLE_BITS = 4096
"""An FA backward phase's sign table goes to block RAM from this size (smaller ones are LUTs)."""


def backward_cycles(slots: int, groups: int, sources: int) -> int:
    """Cycles of an FA backward phase (:meth:`ErrorUnit.backward`) for a layer of ``groups`` groups of ``slots``
    rows fed by ``sources`` deltas: per group one cycle per source and one per slot; one more for the last write."""
    return groups * (sources + slots) + 1


class ErrorUnit:
    def __init__(self, m: Module, spec: LearnSpec, units: list[DenseUnit], outputs: list[LayerOutputs]) -> None:
        self.m, self.spec, self.units, self.outputs = m, spec, units, outputs
        self.e = [Signal(signed(spec.err_bits + 1), name=f"err{o}") for o in range(units[-1].n_out)]
        self.rows = max(spec.delta_cycles - 1, 0)
        self.row = Signal(range(self.rows + 1))  # the delta phase's row; ``rows``: the phase's last cycle
        self.deltas: dict[int, list[Memory]] = {}

    def load(self, label: Signal) -> list:
        spec, last = self.spec, self.units[-1]
        stmts = []
        for o, e in enumerate(self.e):
            rounded = shift_round(last.y[o], spec.err_shift)
            error = saturate(rounded, spec.err_bits) - Mux(label == o, 1 << spec.err_frac, 0)
            if spec.hinge:  # at the label only a shortfall counts, elsewhere only an excess: decided on the rounded
                # value beside the saturation (both bounds lie inside its range), not after the subtraction
                counts = Mux(label == o, rounded < (1 << spec.err_frac), rounded > 0)
                error = Mux(counts, error, 0)
            stmts.append(e.eq(error))
        return [*stmts, self.row.eq(0)]

    def delta_phase(self, active: Value) -> None:
        """The delta phase's logic; it runs while ``active`` (``row`` counts to ``rows``)."""
        m = self.m
        with m.If(active & (self.row < self.rows)):
            m.d.sync += self.row.eq(self.row + 1)
        for k, signs in enumerate(self.spec.feedback):
            if not self.spec.from_error(k):
                continue
            spec = self.units[k].spec
            words = [sum(1 << o for o, sign in enumerate(row) if sign > 0) for row in signs]
            m.submodules[f"feedback{k}"] = rom = Memory(shape=unsigned(len(self.e)), depth=len(signs), init=words,
                                                        attrs={"ram_style": "logic"})
            sign_port = rom.read_port(transparent_for=())
            m.d.comb += sign_port.addr.eq(self.row)
            h = self.outputs[k].read(self.row)
            valid, row = Signal(name=f"delta{k}_valid"), Signal(range(len(signs)), name=f"delta{k}_row")
            m.d.sync += [valid.eq(active & (self.row < len(signs))), row.eq(self.row)]
            total = sum((Mux(sign_port.data[o], e, -e) for o, e in enumerate(self.e)), Const(0))
            delta = Signal(signed(spec.coef_bits), name=f"delta{k}")
            m.d.comb += delta.eq(Mux(self._active(k, h), shift_round(total, self.spec.shift(k)), 0))
            banks = self._delta_banks(k)
            for q, mem in enumerate(banks):
                wp = mem.write_port()
                m.d.comb += [wp.addr.eq(row // spec.slots), wp.data.eq(delta),
                             wp.en.eq(valid & (row % spec.slots == q))]

    def modulation_phase(self, active: Value, in_bits: int) -> Memory:
        """PEPITA: ``p₀[c] = sat(round(Σ_o F[c, o] · e_o / 2^s₀))`` for one input ``c`` per cycle of the delta phase
        (the same row counter and adder tree as DFA's deltas, one more cycle at its end), into a memory of ``n_in``
        words of ``in_bits``, which the first layer's perturbation pass reads as its inputs."""
        m, signs = self.m, self.spec.modulation
        words = [sum(1 << o for o, sign in enumerate(row) if sign > 0) for row in signs]
        style = {"ram_style": "block" if len(words) * len(self.e) >= BACKWARD_TABLE_BITS else "logic"}
        m.submodules.modulation_signs = rom = Memory(shape=unsigned(len(self.e)), depth=len(signs), init=words,
                                                     attrs=style)
        sign_port = rom.read_port(transparent_for=())
        m.d.comb += sign_port.addr.eq(self.row)
        # the signs arrive, the sum is formed and registered; a cycle later it is rounded, saturated and written
        # (in one cycle the adder tree and the saturation were the longest path of the design on an iCE40)
        valid, row = Signal(name="modulation_valid"), Signal(range(len(signs)), name="modulation_row")
        m.d.sync += [valid.eq(active & (self.row < len(signs))), row.eq(self.row)]
        summed = sum((Mux(sign_port.data[o], e, -e) for o, e in enumerate(self.e)), Const(0))
        total = Signal(signed(len(summed)), name="modulation_total")
        written, at = Signal(name="modulation_write"), Signal.like(row, name="modulation_at")
        m.d.sync += [total.eq(summed), written.eq(valid), at.eq(row)]
        m.submodules.modulation = mem = Memory(shape=signed(in_bits), depth=len(signs), init=[])
        wp = mem.write_port()
        m.d.comb += [wp.addr.eq(at), wp.data.eq(saturate(shift_round(total, self.spec.modulation_shift), in_bits)),
                     wp.en.eq(written)]
        return mem

    def perturbation(self, k: int) -> None:
        """PEPITA: hidden layer ``k``'s perturbation pass results, masked by the derivative at the row's output
        (read from where the outputs live, a cycle later, so the write follows the result by one cycle), into
        the layer's delta memory (the update pass's coefficients, and the next layer's perturbation inputs)."""
        m, unit = self.m, self.units[k]
        spec = unit.spec
        we, group = Signal(name=f"pert{k}_we"), Signal.like(unit.out_group, name=f"pert{k}_group")
        slot = Signal.like(unit.out_slot, name=f"pert{k}_slot")
        held = [Signal(signed(spec.coef_bits), name=f"pert{k}_data{q}") for q in range(spec.out_ports)]
        m.d.sync += [we.eq(unit.pert_we), group.eq(unit.out_group), slot.eq(unit.out_slot),
                     *(h.eq(unit.pert_data[q]) for q, h in enumerate(held))]
        banks = self._delta_banks(k)
        if spec.writeback == "serial":  # one row per cycle: its output, and the bank of its slot
            row = times(unit.out_group, spec.slots) + unit.out_slot
            h = self.outputs[k].read(Mux(row < unit.n_out, row, unit.n_out - 1))
            for q, mem in enumerate(banks):
                wp = mem.write_port()
                m.d.comb += [wp.addr.eq(group), wp.data.eq(Mux(self._active(k, h), held[0], 0)),
                             wp.en.eq(we & (slot == q))]
            return
        for q, mem in enumerate(banks):
            h = self.outputs[k].read_slot(q, unit.out_group)
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(group), wp.data.eq(Mux(self._active(k, h), held[q], 0)), wp.en.eq(we)]

    def perturbation_input(self, k: int, index: Value) -> Value:
        """PEPITA: input ``index`` of layer ``k + 1``'s perturbation pass, layer ``k``'s masked result, one cycle
        after the address (a read port per bank of its delta memory)."""
        spec = self.units[k].spec
        words = []
        for mem in self.deltas[k]:
            rp = mem.read_port(transparent_for=())
            self.m.d.comb += rp.addr.eq(index // spec.slots)
            words.append(rp.data)
        if spec.slots == 1:
            return words[0]
        bank = Signal(range(spec.slots), name=f"pert{k}_bank")
        self.m.d.sync += bank.eq(index % spec.slots)
        return Array(words)[bank]

    def _delta_banks(self, k: int) -> list[Memory]:
        """Layer ``k``'s delta memory: a bank per slot, row ``g · slots + q`` at word ``g`` of bank ``q``, as the
        update pass reads it (``coefficients``) and an FA layer before it (``backward``)."""
        spec = self.units[k].spec
        attrs = {"ram_style": "block"} if spec.store == "memory" else None
        banks = []
        for q in range(spec.slots):
            mem = Memory(shape=signed(spec.coef_bits), depth=spec.groups, init=[], attrs=attrs)
            self.m.submodules[f"delta{k}_bank{q}"] = mem
            banks.append(mem)
        self.deltas[k] = banks
        return banks

    def backward(self, k: int, active: Value) -> Value:
        """FA: layer ``k``'s delta from layer ``k + 1``'s (in its delta memory), while ``active``; high in the cycle
        of its last write (:func:`backward_cycles` after ``active`` rose). A group of ``slots`` rows at a time: one
        source delta per cycle (read from its bank, one cycle later added or subtracted by each slot's
        accumulator, as the sign table says), then the slots' sums one per cycle: ``round(sum / 2^s)``, masked by
        the derivative at the row's output (read from where the outputs live), into the layer's delta memory."""
        m, spec = self.m, self.units[k].spec
        source = self.units[k + 1].spec
        n_src, slots, groups = source.n_out, spec.slots, spec.groups
        signs = self.spec.feedback[k]
        words = [sum(1 << q for q in range(slots) if g * slots + q < len(signs) and signs[g * slots + q][o] > 0)
                 for g in range(groups) for o in range(n_src)]
        style = {"ram_style": "block" if len(words) * slots >= BACKWARD_TABLE_BITS else "logic"}
        m.submodules[f"back{k}_signs"] = rom = Memory(shape=unsigned(slots), depth=len(words), init=words,
                                                      attrs=style)
        # Counters, no products or quotients (yosys would give a constant product a DSP): the group, the source
        # delta (and its bank and word in the next layer's delta memory), the sign table's word, the row drained.
        g = Signal(range(max(groups, 2)), name=f"back{k}_group")
        o = Signal(range(max(n_src, 2)), name=f"back{k}_source")
        bank = Signal(range(max(source.slots, 2)), name=f"back{k}_bank")
        src_word = Signal(range(max(source.groups, 2)), name=f"back{k}_word")
        table = Signal(range(max(len(words), 2)), name=f"back{k}_table")
        d = Signal(range(max(slots, 2)), name=f"back{k}_slot")
        row = Signal(range(max(groups * slots, 2)), name=f"back{k}_row")
        draining = Signal(name=f"back{k}_draining")
        finished = Signal(name=f"back{k}_finished")
        with m.If(~active):
            m.d.sync += [g.eq(0), o.eq(0), bank.eq(0), src_word.eq(0), table.eq(0), d.eq(0), row.eq(0),
                         draining.eq(0), finished.eq(0)]
        with m.Elif(~draining & ~finished):
            m.d.sync += table.eq(table + 1)
            with m.If(o == n_src - 1):
                m.d.sync += [o.eq(0), bank.eq(0), src_word.eq(0), draining.eq(1), d.eq(0)]
            with m.Else():
                m.d.sync += o.eq(o + 1)
                with m.If(bank == source.slots - 1):
                    m.d.sync += [bank.eq(0), src_word.eq(src_word + 1)]
                with m.Else():
                    m.d.sync += bank.eq(bank + 1)
        with m.Elif(draining):
            m.d.sync += row.eq(row + 1)
            with m.If(d == slots - 1):
                m.d.sync += draining.eq(0)
                with m.If(g == groups - 1):
                    m.d.sync += finished.eq(1)
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.Else():
                m.d.sync += d.eq(d + 1)
        # stage 0: addresses; stage 1: the sign word and the source delta arrive
        sign_port = rom.read_port(transparent_for=())
        m.d.comb += sign_port.addr.eq(table)
        reads = []
        for mem in self.deltas[k + 1]:
            rp = mem.read_port(transparent_for=())
            m.d.comb += rp.addr.eq(src_word)
            reads.append(rp.data)
        pick = Signal.like(bank, name=f"back{k}_pick")
        adding, first = Signal(name=f"back{k}_adding"), Signal(name=f"back{k}_first")
        m.d.sync += [pick.eq(bank), adding.eq(active & ~draining & ~finished), first.eq(o == 0)]
        value = Array(reads)[pick] if len(reads) > 1 else reads[0]
        accs = [Signal(signed(source.coef_bits + n_src.bit_length() + 1), name=f"back{k}_acc{q}")
                for q in range(slots)]
        with m.If(adding):
            for q, acc in enumerate(accs):
                m.d.sync += acc.eq(Mux(first, 0, acc) + Mux(sign_port.data[q], value, -value))
        h = self.outputs[k].read(Mux(row < spec.n_out, row, spec.n_out - 1))
        writing, slot, word = Signal(name=f"back{k}_writing"), Signal.like(d), Signal.like(g)
        m.d.sync += [writing.eq(active & draining & (row < spec.n_out)), slot.eq(d), word.eq(g)]
        delta = Signal(signed(spec.coef_bits), name=f"back{k}_delta")
        m.d.comb += delta.eq(Mux(self._active(k, h), shift_round(Array(accs)[slot], self.spec.shift(k)), 0))
        for q, mem in enumerate(self._delta_banks(k)):
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(word), wp.data.eq(delta), wp.en.eq(writing & (slot == q))]
        done = Signal(name=f"back{k}_done")
        m.d.comb += done.eq(active & finished)
        return done

    def _active(self, k: int, h: Value) -> Value:
        fn, one = self.spec.derivative[k]
        if fn == "relu":
            return h > 0
        if fn == "hardtanh":
            return (h < one) & (h > -one)
        return Const(1)

    def coefficients(self) -> None:
        """Connect every learning layer's ``coef`` (one cycle after its ``coef_group``)."""
        m = self.m
        for k, unit in enumerate(self.units):
            spec = unit.spec
            if not spec.learn:
                continue
            for q in range(spec.slots):
                if k == len(self.units) - 1:
                    with m.Switch(unit.coef_group):
                        for g in range(spec.groups):
                            if g * spec.slots + q < unit.n_out:
                                with m.Case(g):
                                    m.d.sync += unit.coef[q].eq(self.e[g * spec.slots + q])
                elif spec.learn == "delta":
                    rp = self.deltas[k][q].read_port(transparent_for=())
                    m.d.comb += [rp.addr.eq(unit.coef_group), unit.coef[q].eq(rp.data)]
                else:
                    m.d.comb += unit.coef[q].eq(self.outputs[k].read_slot(q, unit.coef_group))
