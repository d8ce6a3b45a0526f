"""The ``analog`` dialect: a network as a circuit of resistive crossbars, decided by ``lower-analog``.

Values on edges are voltages. Semantics (executed by ``ir.interp``):

- ``analog.dac``: ``v = scale · x`` (the input drivers; volts per input unit).
- ``analog.crossbar``: rows driven by the input voltages (and, with ``bias_volts``, one more row held at that
  voltage), each with a ``+`` line into the G+ devices and a ``−`` line at the negated voltage into the G−
  devices; every column's current flows into an inverting transimpedance stage (op-amp of finite gain
  ``opamp_gain``, feedback ``r_feedback``). With ideal wires ``V = −R_f I / (1 + (1 + R_f ΣG) / A)`` exactly;
  with wire, source or sense resistance the exact nodal solution of the same network.
- ``analog.activation``: ``out_scale · fn(in_gain · v)``; ``relu`` is the inverting precision rectifier, so
  ``in_gain < 0`` and ``out_scale = 1``.
- ``analog.adc``: ``y = scale · v`` (back to the network's units).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from errors import VerifyError
from ir.dialects.nn import ACTIVATIONS
from ir.op import Op, expect_inputs, register
from ir.types import TensorType


def _finite(name: str, value: float, positive: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise VerifyError(f"{name} must be a finite number, not {value!r}")
    if positive and value <= 0:
        raise VerifyError(f"{name} must be positive, not {value!r}")


@dataclass(frozen=True, slots=True)
class _Scale(Op):
    """``out = scale · in``: the converters at the circuit's edges."""

    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    scale: float

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        return ins


@register
@dataclass(frozen=True, slots=True)
class Dac(_Scale):
    """Input drivers: volts per input unit (positive)."""

    kind: ClassVar[str] = "analog.dac"

    def verify(self) -> None:
        _finite("scale", self.scale, positive=True)


@register
@dataclass(frozen=True, slots=True)
class Adc(_Scale):
    """Read-out: network units per volt (negative after an inverting stage). ``budget_volts``: how far the
    circuit's voltage here may be from the ideal one, derived by ``lower-analog`` from the activation circuits'
    error bounds (verification holds ngspice to it); ``fullscale_volts``: the transimpedance stages' full scale,
    against which the linear stage's error is measured."""

    kind: ClassVar[str] = "analog.adc"
    budget_volts: float = 0.0
    fullscale_volts: float = 1.0

    def verify(self) -> None:
        _finite("scale", self.scale)
        _finite("budget_volts", self.budget_volts)
        if self.budget_volts < 0:
            raise VerifyError(f"budget_volts must be zero or positive, not {self.budget_volts!r}")
        _finite("fullscale_volts", self.fullscale_volts, positive=True)


DEVICE_MODELS = ("linear", "sinh", "cubic")


@register
@dataclass(frozen=True, slots=True)
class Crossbar(Op):
    kind: ClassVar[str] = "analog.crossbar"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    in_features: int
    out_features: int
    g_pos: str
    g_neg: str
    r_feedback: float
    opamp_gain: float
    tile_rows: int
    tile_cols: int
    bias_volts: float | None = None
    r_wire: float = 0.0
    r_source: float = 0.0
    r_sense: float = 0.0
    device: str = "linear"
    """The devices' I–V: linear, or sinh / cubic of small-signal conductance G (``circuits.analog.netlist``)."""
    device_v0: float = 0.25
    """Their characteristic voltage (volts; for sinh and cubic)."""
    selector_g: float = 0.0
    """A selector in series with every device (1S1R): its small-signal conductance (S; 0: none)."""
    selector_v0: float = 0.05
    """The selector's characteristic voltage (a sinh I–V)."""

    @property
    def rows(self) -> int:
        return self.in_features + (self.bias_volts is not None)

    def verify(self) -> None:
        for f in ("in_features", "out_features"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 1:
                raise VerifyError(f"{f} must be a positive integer, not {v!r}")
        for f in ("tile_rows", "tile_cols"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 2:
                raise VerifyError(f"{f} must be an integer of at least 2, not {v!r}")
        _finite("r_feedback", self.r_feedback, positive=True)
        _finite("opamp_gain", self.opamp_gain, positive=True)
        for f in ("r_wire", "r_source", "r_sense"):
            _finite(f, getattr(self, f))
            if getattr(self, f) < 0:
                raise VerifyError(f"{f} must be zero or positive, not {getattr(self, f)!r}")
        if self.bias_volts is not None:
            _finite("bias_volts", self.bias_volts)
        if self.device not in DEVICE_MODELS:
            raise VerifyError(f"device must be one of {', '.join(DEVICE_MODELS)}, not {self.device!r}")
        _finite("device_v0", self.device_v0, positive=True)
        _finite("selector_g", self.selector_g)
        if self.selector_g < 0:
            raise VerifyError(f"selector_g must be zero or positive, not {self.selector_g!r}")
        _finite("selector_v0", self.selector_v0, positive=True)

    def params_used(self) -> tuple[str, ...]:
        return (self.g_pos, self.g_neg)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        if ins[0].shape != (self.in_features,):
            raise VerifyError(f"input must have shape ({self.in_features},), not {ins[0].shape!r}")
        for name in (self.g_pos, self.g_neg):
            g = params[name]
            if g.dtype.kind != "f":
                raise VerifyError(f"conductances {name!r} must be floats, not {g.dtype.name}")
            if g.shape != (self.rows, self.out_features):
                raise VerifyError(f"conductances {name!r} must have shape {(self.rows, self.out_features)!r}, "
                                  f"not {g.shape!r}")
            if np.any(g < 0):
                raise VerifyError(f"conductances {name!r} must be zero or positive, not {float(g.min())!r}")
        return (TensorType((self.out_features,), ins[0].dtype),)


@register
@dataclass(frozen=True, slots=True)
class Activation(Op):
    kind: ClassVar[str] = "analog.activation"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    fn: str
    in_gain: float
    out_scale: float
    opamp_gain: float = 1e6
    r_in: float = 1e4

    def verify(self) -> None:
        if self.fn not in ACTIVATIONS or self.fn == "identity":
            raise VerifyError(f"analog activation must be one of relu, tanh, sigmoid, hardtanh, not {self.fn!r}")
        _finite("in_gain", self.in_gain)
        _finite("out_scale", self.out_scale)
        _finite("opamp_gain", self.opamp_gain, positive=True)
        _finite("r_in", self.r_in, positive=True)
        if self.fn == "relu" and (self.in_gain >= 0 or self.out_scale != 1.0):
            raise VerifyError(f"relu is an inverting rectifier: in_gain must be negative and out_scale 1.0, not "
                              f"{self.in_gain!r} and {self.out_scale!r}")

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        return ins
