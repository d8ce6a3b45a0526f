"""The interface every learning rule implements, so one trainer drives them all.

A rule turns a batch ``(x, y)`` into an update direction for every parameter, written into ``param.grad`` (the
descent convention: the optimizer subtracts it), and returns the batch loss for reporting. Rules other than
backprop compute their updates from layer-local quantities under ``torch.no_grad()``; none differentiates through
more than one layer. A rule also describes itself as plain data (:meth:`Rule.record`), which the frontend writes
into the ``learn`` dialect so hardware can build the rule.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ir.errors import ConfigError
from learning.mlp import MLP

HyperValue = int | float | str | bool


@dataclass(frozen=True)
class FeedbackPath:
    """The error of layer ``source`` reaches layer ``target`` through ``matrix`` (target.out × source.out)."""

    target: int
    source: int
    matrix: np.ndarray


@dataclass(frozen=True)
class RuleRecord:
    """A rule as data: its name, all hyper-parameters, the seed and its fixed feedback paths."""

    rule: str
    hyper: dict[str, HyperValue]
    seed: int
    feedback: tuple[FeedbackPath, ...] = ()


class Rule(ABC):
    """A learning rule bound to one network. Subclasses set ``name`` and may add ``options`` with defaults."""

    name: ClassVar[str]
    options: ClassVar[dict[str, HyperValue]] = {}
    """Rule-specific hyper-parameters and their defaults (``--set key=value`` on the CLI)."""

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(sorted(self.options)) or "none"
            raise ConfigError(f"rule {self.name!r} has no option {unknown[0]!r}: its options are {known}")
        self.net = net
        self.opts: dict[str, HyperValue] = {**self.options, **options}
        for key, default in self.options.items():
            value = self.opts[key]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                    raise ConfigError(f"option {key!r} of rule {self.name!r} must be a finite number, not {value!r}")
        self.generator = generator
        self.validate()

    def validate(self) -> None:
        """Range checks on :attr:`opts`; raise :class:`ConfigError`."""

    @abstractmethod
    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Write the update direction of every parameter into ``.grad``; return the batch loss (a scalar)."""

    def feedback(self) -> tuple[FeedbackPath, ...]:
        """The rule's fixed feedback paths (none for backprop)."""
        return ()

    def record(self, common: dict[str, HyperValue], seed: int) -> RuleRecord:
        return RuleRecord(self.name, {**common, **self.opts}, seed, self.feedback())

    # Helpers shared by the rules -----------------------------------------------------------------------------
    @staticmethod
    def output_error(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy loss and its gradient with respect to the logits, ``(softmax − onehot) / batch``."""
        loss = F.cross_entropy(logits, y)
        e = torch.softmax(logits, dim=1)
        e[torch.arange(len(y), device=y.device), y] -= 1.0
        return loss, e / len(y)

    def set_layer_grad(self, index: int, delta: torch.Tensor, a_in: torch.Tensor) -> None:
        """The local update of one layer: ``dW = deltaᵀ · a_in`` and ``db = Σ delta`` (outer product, summed)."""
        layer = self.net.layers[index]
        layer.weight.grad = delta.T @ a_in
        layer.bias.grad = delta.sum(dim=0)
