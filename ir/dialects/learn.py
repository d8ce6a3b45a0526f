"""The ``learn`` dialect: the learning rule a network was trained with, as data.

These ops have no ports: inference ignores them. They tell a hardware backend which rule to build, with which
hyper-parameters, and which fixed feedback matrices route the error signal (stored in ``Graph.params``, and
reproducible from ``seed``).

- ``learn.rule``: the rule's name (one of :data:`RULES`), its hyper-parameters as sorted ``(key, value)`` pairs,
  and the seed its random state was drawn from.
- ``learn.feedback``: the error at node ``source`` (a dense layer's output) reaches node ``target`` (a dense layer)
  through ``matrix`` of shape ``(target.out_features, source.out_features)``: for DFA the source is the last
  layer; for FA it is the next layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from errors import VerifyError
from ir.dialects.nn import Input
from ir.op import Op, register
from ir.types import TensorType

RULES = ("bp", "fa", "dfa", "pc", "chl", "ep", "ff", "pepita", "dtp", "lra", "hebbian", "oja")
"""Learning rules the IR can record (the survey's local rules, plus backprop as the baseline)."""

HyperValue = int | float | str | bool


@register
@dataclass(frozen=True, slots=True)
class Rule(Op):
    """The learning rule of the whole graph (at most one per graph)."""

    kind: ClassVar[str] = "learn.rule"
    rule: str
    hyper: tuple[tuple[str, HyperValue], ...] = ()
    seed: int = 0

    def verify(self) -> None:
        if self.rule not in RULES:
            raise VerifyError(f"rule must be one of {', '.join(RULES)}, not {self.rule!r}")
        keys = [k for k, _ in self.hyper]
        if keys != sorted(set(keys)):
            raise VerifyError(f"hyper-parameter keys must be unique and sorted, not {keys!r}")
        for key, value in self.hyper:
            if not isinstance(value, (int, float, str, bool)):
                raise VerifyError(f"hyper-parameter {key!r} must be a number, string or bool, not {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise VerifyError(f"hyper-parameter {key!r} must be finite, not {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise VerifyError(f"seed must be an integer, not {self.seed!r}")

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        return ()

    def hyper_dict(self) -> dict[str, HyperValue]:
        return dict(self.hyper)


@register
@dataclass(frozen=True, slots=True)
class Feedback(Op):
    """A feedback path carrying the error (or target) at ``source`` to ``target`` through ``matrix``.

    ``target`` is a dense layer or the graph's input (PEPITA modulates the input); ``bias``, when set, is added
    after the matrix (the learned inverses of target propagation).
    """

    kind: ClassVar[str] = "learn.feedback"
    target: str
    source: str
    matrix: str
    bias: str | None = None

    def verify(self) -> None:
        for field in ("target", "source", "matrix"):
            v = getattr(self, field)
            if not isinstance(v, str) or not v:
                raise VerifyError(f"{field} must be a non-empty string, not {v!r}")
        if self.bias is not None and (not isinstance(self.bias, str) or not self.bias):
            raise VerifyError(f"bias must be a non-empty string or none, not {self.bias!r}")

    def params_used(self) -> tuple[str, ...]:
        return (self.matrix,) if self.bias is None else (self.matrix, self.bias)

    def nodes_used(self) -> tuple[str, ...]:
        return (self.target, self.source)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        return ()

    def verify_refs(self, ops: Mapping[str, Op], params: Mapping[str, np.ndarray]) -> None:
        dims = []
        for field in ("target", "source"):
            op = ops[getattr(self, field)]
            out = getattr(op, "out_features", None)
            if field == "target" and isinstance(op, Input) and len(op.shape) == 1:
                out = op.shape[0]
            if out is None:
                allowed = "a dense layer or the input" if field == "target" else "a dense layer"
                raise VerifyError(f"{field} {getattr(self, field)!r} must be {allowed}, not {op.kind}")
            dims.append(out)
        for name in self.params_used():
            if params[name].dtype.kind != "f":
                raise VerifyError(f"feedback parameter {name!r} must hold floats, not {params[name].dtype.name}")
        if params[self.matrix].shape != tuple(dims):
            raise VerifyError(
                f"feedback matrix {self.matrix!r} must have shape {tuple(dims)!r}, not {params[self.matrix].shape!r}"
            )
        if self.bias is not None and params[self.bias].shape != (dims[0],):
            raise VerifyError(
                f"feedback bias {self.bias!r} must have shape {(dims[0],)!r}, not {params[self.bias].shape!r}"
            )
