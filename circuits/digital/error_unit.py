"""The learning engine's error path: the output error from the label, and DFA's hidden deltas through fixed ±1
feedback matrices, exactly as ``ir.interp_learn`` defines them.

``ErrorUnit`` is a plain helper that adds its logic to the network's module (it shares the network's registers):
``load`` computes ``e_o = sat(round(y_o / 2^err_shift)) − [o = label] · 2^err_frac`` for every output in one cycle
and clears the deltas; each ``step`` (``n_out`` of them, output ``o`` at step ``o``) adds ``±e_o`` to every hidden
row's delta, the sign a constant bit of the stored feedback matrix. ``coefficients`` then hands every layer its
per-row update coefficient: the error (last layer), the delta masked by the activation's derivative (hidden DFA
layers) or the layer's own output (Oja, Hebbian).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Const, Module, Mux, Signal, signed

from circuits.digital.dense_unit import DenseUnit, saturate, shift_round


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


class ErrorUnit:
    def __init__(self, m: Module, spec: LearnSpec, units: list[DenseUnit]) -> None:
        self.m, self.spec, self.units = m, spec, units
        n_out = units[-1].n_out
        self.e = [Signal(signed(spec.err_bits + 1), name=f"err{o}") for o in range(n_out)]
        self.deltas = [[Signal(signed(units[k].spec.coef_bits), name=f"delta{k}_{r}") for r in range(len(fb))]
                       for k, fb in enumerate(spec.feedback)]
        self.step_index = Signal(range(max(n_out, 2)))

    def load(self, label: Signal) -> list:
        spec, last = self.spec, self.units[-1]
        stmts = [e.eq(saturate(shift_round(last.y[o], spec.err_shift), spec.err_bits)
                      - Mux(label == o, 1 << spec.err_frac, 0)) for o, e in enumerate(self.e)]
        stmts += [d.eq(0) for rows in self.deltas for d in rows]
        return stmts + [self.step_index.eq(0)]

    def step(self) -> list:
        """One feedback step: every hidden row adds ``B[r, o] · e_o`` for ``o = step_index``."""
        m, o = self.m, self.step_index
        e_sel = Signal(signed(self.spec.err_bits + 1), name="err_sel")
        with m.Switch(o):
            for k, e in enumerate(self.e):
                with m.Case(k):
                    m.d.comb += e_sel.eq(e)
        stmts = [o.eq(o + 1)]
        for fb, rows in zip(self.spec.feedback, self.deltas, strict=True):
            for signs, d in zip(fb, rows, strict=True):
                bits = Const(sum(1 << i for i, s in enumerate(signs) if s > 0), len(signs))
                stmts.append(d.eq(d + Mux(bits.bit_select(o, 1), e_sel, -e_sel)))
        return stmts

    def coefficients(self) -> None:
        """Connect every learning layer's ``coef`` input."""
        m, spec = self.m, self.spec
        for k, unit in enumerate(self.units):
            if not unit.spec.learn:
                continue
            for r in range(unit.n_out):
                if k == len(self.units) - 1:
                    m.d.comb += unit.coef[r].eq(self.e[r])
                elif unit.spec.learn == "delta":
                    fn, one = spec.derivative[k]
                    h = unit.y[r]
                    if fn == "relu":
                        active = h > 0
                    elif fn == "hardtanh":
                        active = (h < one) & (h > -one)
                    else:
                        active = Const(1)
                    m.d.comb += unit.coef[r].eq(Mux(active, self.deltas[k][r], 0))
                else:
                    m.d.comb += unit.coef[r].eq(unit.y[r])
