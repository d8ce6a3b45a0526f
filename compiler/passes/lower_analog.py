"""lower-analog: map an ``nn`` chain onto resistive crossbars; every number of the circuit is decided here.

For each dense layer ``y = W a + b`` with inputs at ``s`` volts per unit:

- the bias becomes one more row held at ``v_read``, with weight ``b · s / v_read``, so that the column current is
  ``I = k · s · y`` for the augmented matrix ``W' = [W | b s / v_read]``; a layer fed straight by another
  crossbar (an identity activation between them, folded away) gets inputs at ``s < 0`` and takes ``W' = [−W | b
  |s| / v_read]``, so that ``I = k |s| y`` as for any other layer;
- weights become differential conductance pairs within the device range: ``G± = g_min + k · max(±W', 0)`` with
  ``k = (g_max − g_min) / max|W'|`` (``G⁺ − G⁻ = k W'``, the ``g_min`` offsets cancel); then the programming
  non-idealities, seeded: ``levels``, lognormal ``variation``, ``stuck_on``/``stuck_off`` devices (the reference
  and the netlist both use the programmed values, so verification holds and accuracy shows their cost); the
  devices are linear, or nonlinear (``device``: sinh or cubic I–V whose small-signal conductance is the
  programmed ``G``, characteristic voltage ``device_v0``), each alone or behind a sinh selector
  (``selector_g``, ``selector_v0``);
- the transimpedance stage's ``R_f = v_tia / (k s Y)`` brings the largest calibrated ``|y|`` (``Y``) to ``v_tia``
  volts (its output is ``−R_f k s y``: inverted);
- the activation re-inverts and rescales so the next layer's inputs peak at ``v_read``
  (``s_next = v_read / max|f(y)|``); after the last layer an ADC scale of ``1 / (−R_f k s)`` reads logits.

Calibration ranges come from running the float graph on ``calibration`` inputs (training data). The pass also
derives the end-to-end error budget of the non-ideal rectifiers (volts at each ADC input, stored in the
``analog.adc`` op with the transimpedance full scale), which verification holds the simulation to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from circuits.analog.activation import rectifier_error_bound
from compiler.passes.base import Pass
from compiler.passes.chain import layer_chain, peak
from errors import LoweringError
from ir import Graph, interp
from ir.dialects import analog, nn


@dataclass(frozen=True)
class LowerAnalog(Pass):
    name: ClassVar[str] = "lower-analog"
    calibration: np.ndarray | None = None
    v_read: float = 0.2
    g_min: float = 1e-6
    g_max: float = 1e-4
    v_tia: float = 1.0
    tile: int = 64
    opamp_gain: float = 1e6
    r_rect: float = 1e4
    r_wire: float = 0.0
    r_source: float = 0.0
    r_sense: float = 0.0
    levels: int = 0
    """Programmable conductance levels between g_min and g_max (0: continuous)."""
    variation: float = 0.0
    """Device-to-device variation: each conductance times exp(σ·N(0, 1)) (lognormal σ)."""
    stuck_on: float = 0.0
    """Fraction of devices stuck at g_max."""
    stuck_off: float = 0.0
    """Fraction of devices stuck at g_min."""
    seed: int = 0
    device: str = "linear"
    """The devices' I–V (``analog.crossbar``'s ``device``): linear, sinh or cubic."""
    device_v0: float = 0.25
    """Their characteristic voltage."""
    selector_g: float = 0.0
    """A selector in series with every device: its small-signal conductance (0: none)."""
    selector_v0: float = 0.05
    """Its characteristic voltage."""
    budget_margin: float = 2.0
    """Inputs may exceed the calibration range: the rectifier bound is taken at this multiple of it."""

    def check(self) -> None:
        if not 0 < self.g_min < self.g_max:
            raise LoweringError(f"device range must have 0 < G_min < G_max, not G_min={self.g_min!r}, "
                                f"G_max={self.g_max!r}")
        if self.tile < 2:
            raise LoweringError(f"tile size must be at least 2, not {self.tile!r}")
        if not self.v_read > 0:
            raise LoweringError(f"read voltage must be positive, not {self.v_read!r}")
        if self.levels == 1 or self.levels < 0:
            raise LoweringError(f"conductance levels must be 0 (continuous) or at least 2, not {self.levels!r}")
        if not self.variation >= 0:
            raise LoweringError(f"device variation must be zero or positive, not {self.variation!r}")
        if self.device not in analog.DEVICE_MODELS:
            raise LoweringError(f"device must be one of {', '.join(analog.DEVICE_MODELS)}, not {self.device!r}")
        if not self.device_v0 > 0:
            raise LoweringError(f"device v0 must be positive, not {self.device_v0!r}")
        if not self.selector_g >= 0 or not self.selector_v0 > 0:
            raise LoweringError(f"a selector needs a conductance ≥ 0 and a positive v0, not {self.selector_g!r} and "
                                f"{self.selector_v0!r}")
        for name in ("stuck_on", "stuck_off"):
            if not 0 <= getattr(self, name) <= 1:
                raise LoweringError(f"{name.replace('_', '-')} rate must be within [0, 1], not {getattr(self, name)!r}")

    def slope(self) -> float:
        """The most a device's slope ``dI/dV`` exceeds its conductance, at ``budget_margin`` times the read voltage
        (how much more an input error moves a nonlinear crossbar's current)."""
        x = self.budget_margin * self.v_read / self.device_v0
        return {"linear": 1.0, "sinh": float(np.cosh(x)), "cubic": 1.0 + 3.0 * x * x}[self.device]

    def program(self, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The non-idealities of programming target conductances ``g``: quantization to ``levels``, lognormal
        variation, then stuck devices, all drawn from ``rng``."""
        if self.levels:
            step = (self.g_max - self.g_min) / (self.levels - 1)
            g = self.g_min + np.round((g - self.g_min) / step) * step
        if self.variation:
            g = g * np.exp(self.variation * rng.standard_normal(g.shape))
        if self.stuck_on or self.stuck_off:
            u = rng.random(g.shape)
            g = np.where(u < self.stuck_on, self.g_max, g)
            g = np.where((u >= self.stuck_on) & (u < self.stuck_on + self.stuck_off), self.g_min, g)
        return g

    def run(self, graph: Graph) -> None:
        self.check()
        chain = layer_chain(graph, "analog")
        if self.calibration is None:
            raise LoweringError("lower-analog needs calibration inputs to choose scales")
        ranges = interp.run(graph, self.calibration.astype(np.float64), keep=tuple(chain[1:-1]))
        x_max = peak(chain[0], "calibration inputs", self.calibration) or 1.0
        scale = self.v_read / x_max  # volts per unit at the current point of the chain
        graph.insert_after(chain[0], "dac", analog.Dac(scale))
        rng = np.random.default_rng(self.seed)
        budget = 0.0  # worst-case deviation (volts) of the signal at the current point, from the rectifiers
        for node in chain[1:-1]:
            op = graph.op(node)
            if isinstance(op, nn.Dense):
                w = graph.params[op.weight]
                b = graph.params[op.bias] if op.bias is not None else np.zeros(op.out_features)
                # Inputs at a negative scale (fed straight by an inverting stage: a folded identity) take the
                # weights negated, so the currents are k·|s|·y and every crossbar's output has the same sign.
                sign, scale = float(np.sign(scale)), abs(scale)
                w_aug = np.concatenate([sign * w, (b * scale / self.v_read)[:, None]], axis=1)
                k = (self.g_max - self.g_min) / (peak(node, "weights and scaled biases", w_aug) or 1.0)
                g_pos = self.program((self.g_min + k * np.maximum(w_aug, 0.0)).T, rng)
                g_neg = self.program((self.g_min + k * np.maximum(-w_aug, 0.0)).T, rng)
                y_max = peak(node, "outputs", ranges[node]) or 1.0
                r_f = self.v_tia / (k * scale * y_max)
                if not np.isfinite(r_f) or not np.isfinite(k) or r_f <= 0:
                    raise LoweringError(f"layer {node!r}: its transimpedance gain {r_f!r} Ω is out of any range: "
                                        "the model's values are too large or too small for a circuit")
                graph.add_param(f"{node}.g_pos", g_pos)
                graph.add_param(f"{node}.g_neg", g_neg)
                graph.replace(node, analog.Crossbar(
                    op.in_features, op.out_features, f"{node}.g_pos", f"{node}.g_neg", r_f, self.opamp_gain,
                    self.tile, self.tile, self.v_read, self.r_wire, self.r_source, self.r_sense, self.device,
                    self.device_v0, self.selector_g, self.selector_v0))
                for pname in op.params_used():  # the conductances now carry the weights
                    del graph.params[pname]
                # Input errors reach each output through the data rows' G+ − G− (≤ 1 times R_f).
                budget = budget * r_f * float(np.abs(g_pos[:-1] - g_neg[:-1]).sum(axis=0).max()) * self.slope()
                scale = -r_f * k * scale
            elif isinstance(op, nn.Activation):
                if op.fn == "identity":
                    raise LoweringError(f"node {node!r}: run fold-identity before lower-analog")
                f_max = peak(node, "outputs", ranges[node]) or 1.0
                s_next = self.v_read / f_max
                if op.fn == "relu":
                    new = analog.Activation("relu", s_next / scale, 1.0, self.opamp_gain, self.r_rect)
                    v_max = self.budget_margin * self.v_tia
                    budget = budget * abs(new.in_gain) + rectifier_error_bound(
                        -new.in_gain, self.opamp_gain, v_max, self.r_rect)
                else:
                    new = analog.Activation(op.fn, 1.0 / scale, s_next, self.opamp_gain, self.r_rect)
                    budget = budget * abs(s_next / scale)  # the functions' slopes are at most 1
                graph.replace(node, new)
                scale = s_next
        last = graph.sources(chain[-1])[0][0]
        graph.insert_after(last, "adc", analog.Adc(1.0 / scale, budget, self.v_tia))
