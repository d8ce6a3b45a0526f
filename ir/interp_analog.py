"""Reference kernels of the ``analog`` dialect: the circuit equations, exact.

A crossbar without wire, source or sense resistance and with linear devices follows the finite-gain
transimpedance equation in closed form; otherwise (nonlinear devices included) the reference is the exact nodal
solution of the very network the SPICE backend writes (both
built by ``circuits.analog.crossbar``), factorized once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from circuits.analog.crossbar import Crossbar, add_crossbar
from circuits.analog.netlist import GROUND, Netlist
from circuits.analog.solver import NodalSolver
from ir.activations import ACTIVATION_FNS
from ir.dialects import analog
from ir.op import Op


def crossbar_circuit(op: analog.Crossbar, params: Mapping[str, np.ndarray]) -> Crossbar:
    return Crossbar(params[op.g_pos].astype(np.float64), params[op.g_neg].astype(np.float64), op.r_feedback,
                    op.opamp_gain, op.tile_rows, op.tile_cols, op.r_wire, op.r_source, op.r_sense, op.device,
                    op.device_v0, op.selector_g, op.selector_v0)


def row_voltages(op: analog.Crossbar, v: np.ndarray) -> np.ndarray:
    if op.bias_volts is None:
        return v
    return np.concatenate([v, np.full((len(v), 1), op.bias_volts)], axis=1)


def _crossbar(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, analog.Crossbar)
    xb = crossbar_circuit(op, params)
    v = row_voltages(op, ins[0])
    if xb.ideal:
        return [xb.ideal_output(v)]
    net = Netlist("reference crossbar")
    plus = [f"in{i}" for i in range(op.rows)]
    minus = [f"inn{i}" for i in range(op.rows)]
    for i in range(op.rows):
        net.vsource(f"in{i}", plus[i], GROUND, 0.0)
        net.vcvs(f"inv{i}", minus[i], GROUND, plus[i], GROUND, -1.0)
    outs = add_crossbar(net, "x", xb, plus, minus)
    sol = NodalSolver(net).solve({f"vin{i}": v[:, i] for i in range(op.rows)})
    return [np.stack([sol[o] for o in outs], axis=1)]


def _activation(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, analog.Activation)
    return [op.out_scale * ACTIVATION_FNS[op.fn](op.in_gain * ins[0])]


def _scale(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, (analog.Dac, analog.Adc))
    return [op.scale * ins[0]]


ANALOG_KERNELS: dict[str, Callable[[Op, list[np.ndarray], Mapping[str, np.ndarray]], list[np.ndarray]]] = {
    analog.Dac.kind: _scale,
    analog.Adc.kind: _scale,
    analog.Crossbar.kind: _crossbar,
    analog.Activation.kind: _activation,
}
