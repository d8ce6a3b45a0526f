"""The learning engine's error path: the output error from the label, DFA's hidden deltas through fixed ±1
feedback matrices, and every learning layer's update coefficients, exactly as ``ir.interp_learn`` defines them.

``ErrorUnit`` is a plain helper that adds its logic to the network's module. ``load`` computes
``e_o = sat(round(y_o / 2^err_shift)) − [o = label] · 2^err_frac`` for every output in one cycle (from the last
layer's registers). The **delta phase** (DFA with hidden layers) then takes one hidden row per cycle: it reads the
row's ±1 signs (a read-only table of ``n_out``-bit words) and its activity ``h_r`` (where the layer's outputs
live, :class:`circuits.digital.outputs.LayerOutputs`), and one cycle later writes ``d_r = f'(h_r) · Σ_o ±e_o`` (an
adder tree over the outputs) into the layer's delta memory: a bank per slot, row ``g · slots + q`` at word ``g``,
as the update pass reads it. Every hidden layer runs at once, so the phase takes ``max rows + 1`` cycles.
``coefficients`` hands every learning layer its coefficient, one cycle after the group it asks for: the error
(last layer), the delta (hidden DFA layers) or the layer's own output (Oja, Hebbian).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib.memory import Memory

from circuits.digital.dense_unit import DenseUnit, saturate, shift_round
from circuits.digital.outputs import LayerOutputs


@dataclass(frozen=True)
class LearnSpec:
    """Everything numeric the error path needs (decided by the ``onchip-learning`` pass)."""
    err_shift: int                                   # acc_frac of the last layer − err_frac
    err_bits: int
    err_frac: int
    feedback: tuple[tuple[tuple[int, ...], ...], ...]  # per layer: ±1 rows (n_rows × n_out), () if none
    derivative: tuple[tuple[str, int], ...]          # per layer: (activation, hardtanh's 1.0) for the DFA mask

    @property
    def has_feedback(self) -> bool:
        return any(self.feedback)

    @property
    def delta_cycles(self) -> int:
        """Cycles of the delta phase: one per row of the widest hidden DFA layer, and one for the last write."""
        return max(len(fb) for fb in self.feedback) + 1 if self.has_feedback else 0


class ErrorUnit:
    def __init__(self, m: Module, spec: LearnSpec, units: list[DenseUnit], outputs: list[LayerOutputs]) -> None:
        self.m, self.spec, self.units, self.outputs = m, spec, units, outputs
        self.e = [Signal(signed(spec.err_bits + 1), name=f"err{o}") for o in range(units[-1].n_out)]
        self.rows = max(spec.delta_cycles - 1, 0)
        self.row = Signal(range(self.rows + 1))  # the delta phase's row; ``rows``: the phase's last cycle
        self.deltas: dict[int, list[Memory]] = {}

    def load(self, label: Signal) -> list:
        spec, last = self.spec, self.units[-1]
        stmts = [e.eq(saturate(shift_round(last.y[o], spec.err_shift), spec.err_bits)
                      - Mux(label == o, 1 << spec.err_frac, 0)) for o, e in enumerate(self.e)]
        return [*stmts, self.row.eq(0)]

    def delta_phase(self, active: Value) -> None:
        """The delta phase's logic; it runs while ``active`` (``row`` counts to ``rows``)."""
        m = self.m
        with m.If(active & (self.row < self.rows)):
            m.d.sync += self.row.eq(self.row + 1)
        for k, signs in enumerate(self.spec.feedback):
            if not signs:
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
            m.d.comb += delta.eq(Mux(self._active(k, h), total, 0))
            attrs = {"ram_style": "block"} if spec.store == "memory" else None
            banks = []
            for q in range(spec.slots):
                mem = Memory(shape=signed(spec.coef_bits), depth=spec.groups, init=[], attrs=attrs)
                m.submodules[f"delta{k}_bank{q}"] = mem
                wp = mem.write_port()
                m.d.comb += [wp.addr.eq(row // spec.slots), wp.data.eq(delta),
                             wp.en.eq(valid & (row % spec.slots == q))]
                banks.append(mem)
            self.deltas[k] = banks  # their read ports are the update pass's (``coefficients``)

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
