"""The ``nn`` dialect: a float network as the frontends import it.

Semantics (executed by ``ir.interp`` in float64): ``nn.dense`` computes ``x @ W.T + b`` with ``W`` of shape
(out_features, in_features); ``nn.activation`` applies one of :data:`ACTIVATIONS` elementwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from errors import VerifyError
from ir.op import Op, expect_inputs, register
from ir.types import DTYPES, TensorType

ACTIVATIONS = ("relu", "tanh", "sigmoid", "hardtanh", "identity")
"""Activation functions of the ``nn`` dialect. ``hardtanh`` clamps to [-1, 1]."""


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name:
        raise VerifyError(f"{what} must be a non-empty string, not {name!r}")


@register
@dataclass(frozen=True, slots=True)
class Input(Op):
    """A graph input: a batch of vectors of ``shape``."""

    kind: ClassVar[str] = "nn.input"
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    name: str
    shape: tuple[int, ...]
    dtype: str = "f64"

    def verify(self) -> None:
        _check_name("input name", self.name)
        if not self.shape or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in self.shape):
            raise VerifyError(f"input shape must be positive integers, not {self.shape!r}")
        if self.dtype not in DTYPES:
            raise VerifyError(f"input dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}")

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins, None)
        return (TensorType(self.shape, self.dtype),)


@register
@dataclass(frozen=True, slots=True)
class Dense(Op):
    """A fully connected layer ``y = x @ W.T + b``; ``weight``/``bias`` name arrays in ``Graph.params``."""

    kind: ClassVar[str] = "nn.dense"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    in_features: int
    out_features: int
    weight: str
    bias: str | None = None

    def verify(self) -> None:
        for field in ("in_features", "out_features"):
            v = getattr(self, field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise VerifyError(f"{field} must be a positive integer, not {v!r}")
        _check_name("weight", self.weight)
        if self.bias is not None:
            _check_name("bias", self.bias)

    def params_used(self) -> tuple[str, ...]:
        return (self.weight,) if self.bias is None else (self.weight, self.bias)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        if ins[0].shape != (self.in_features,):
            raise VerifyError(
                f"input must have shape ({self.in_features},) to match in_features, not {ins[0].shape!r}"
            )
        w = params[self.weight]
        for name in self.params_used():
            if params[name].dtype.kind != "f":
                raise VerifyError(f"parameter {name!r} must hold floats, not {params[name].dtype.name}")
        if w.shape != (self.out_features, self.in_features):
            raise VerifyError(
                f"weight {self.weight!r} must have shape {(self.out_features, self.in_features)!r}, not {w.shape!r}"
            )
        if self.bias is not None and params[self.bias].shape != (self.out_features,):
            raise VerifyError(
                f"bias {self.bias!r} must have shape {(self.out_features,)!r}, not {params[self.bias].shape!r}"
            )
        return (TensorType((self.out_features,), ins[0].dtype),)


@register
@dataclass(frozen=True, slots=True)
class Activation(Op):
    """An elementwise activation function, one of :data:`ACTIVATIONS`."""

    kind: ClassVar[str] = "nn.activation"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    fn: str

    def verify(self) -> None:
        if self.fn not in ACTIVATIONS:
            raise VerifyError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {self.fn!r}")

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins, None)
        return (ins[0],)


@register
@dataclass(frozen=True, slots=True)
class Output(Op):
    """A graph output named ``name`` (the interpreter returns outputs by this name)."""

    kind: ClassVar[str] = "nn.output"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    name: str

    def verify(self) -> None:
        _check_name("output name", self.name)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins, None)
        return ()
