"""Activation circuits between crossbar layers.

- ReLU is a real circuit: the inverting precision half-wave rectifier (op-amp of finite gain ``A`` as a VCVS,
  input resistor ``R₁``, feedback resistor ``R₂ = g R₁``, diode D1 from the summing node to the op-amp output,
  diode D2 from the op-amp output to the output node). It computes ``y = relu(−g·v)``: the inversion undoes the
  transimpedance stage's. Its departure from the ideal is bounded by :func:`rectifier_error_bound`.
- tanh, sigmoid and hardtanh are behavioural sources (``b`` elements named ``*_tanh`` and so on), exact.

Every activation output reaches the next crossbar through row drivers: an ideal buffer (VCVS, gain +1) for its
``+`` rows and an ideal inverting buffer (gain −1) for its ``−`` rows, so the crossbar's load never reaches the
activation circuit (the rectifier's output is only held by ``R₂`` while it blocks).
"""

from __future__ import annotations

import math

from circuits.analog.netlist import GROUND, Netlist

DIODE_MODEL = "drect"
DIODE_IS = 1e-14  # A, saturation current
DIODE_N = 1.0
THERMAL_VOLTAGE = 0.02585  # V at 27 °C (ngspice's default temperature)
GMIN = 1e-12  # S, ngspice's default conductance across every junction


def add_rectifier(net: Netlist, prefix: str, v_in: str, gain: float, opamp_gain: float, r_in: float) -> str:
    """``relu(−gain · V(v_in))`` at the returned node."""
    if DIODE_MODEL not in net.models:
        net.model(DIODE_MODEL, "d", n=DIODE_N, **{"is": DIODE_IS})
    n, o, y = f"{prefix}_sum", f"{prefix}_op", f"{prefix}_y"
    net.resistor(f"{prefix}_r1", v_in, n, r_in)
    net.vcvs(f"{prefix}_amp", o, GROUND, GROUND, n, opamp_gain)
    net.diode(f"{prefix}_d1", n, o, DIODE_MODEL)
    net.diode(f"{prefix}_d2", o, y, DIODE_MODEL)
    net.resistor(f"{prefix}_r2", y, n, gain * r_in)
    return y


def rectifier_error_bound(gain: float, opamp_gain: float, v_max: float, r_in: float) -> float:
    """A bound on ``|y − relu(−g v)|`` for ``|v| ≤ v_max``.

    Conducting half: ``y = (−g v − (1 + g) V_D / A) / (1 + (1 + g) / A)``, so the error is at most
    ``(1 + g)(g v_max + V_D) / A``; blocking half: ``y`` is the summing node's ``V_D / A`` times ``(1 + g)`` at
    most. ``V_D`` is the diode drop at the largest current ``g v_max / R₂``; the junctions' ``GMIN`` leakage adds
    at most ``GMIN · R₂ · (V_D + g v_max)``."""
    r2 = gain * r_in
    i_max = gain * v_max / r2
    v_d = DIODE_N * THERMAL_VOLTAGE * math.log1p(i_max / DIODE_IS) * 1.1 + 0.05
    return (1 + gain) * (gain * v_max + v_d) / opamp_gain + GMIN * r2 * (v_d + gain * v_max)


def add_behavioural(net: Netlist, prefix: str, fn: str, v_in: str, in_gain: float, out_scale: float) -> str:
    out = f"{prefix}_{fn}"
    net.behavioural(f"{prefix}_{fn}", out, GROUND, fn, v_in, in_gain, out_scale)
    return out


def add_row_drivers(net: Netlist, prefix: str, v_in: str) -> tuple[str, str]:
    """Ideal row drivers for one input: ``(+ line, − line)`` nodes at ``±V(v_in)`` (VCVS of gain ±1)."""
    pos, neg = f"{prefix}_pos", f"{prefix}_neg"
    net.vcvs(f"{prefix}_buf", pos, GROUND, v_in, GROUND, 1.0)
    net.vcvs(f"{prefix}_inv", neg, GROUND, v_in, GROUND, -1.0)
    return pos, neg
