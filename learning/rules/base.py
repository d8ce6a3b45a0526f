"""The interface every learning rule implements, so one trainer drives them all.

A rule turns a batch ``(x, y)`` into an update direction for every parameter, written into ``param.grad`` (the
descent convention: the optimizer subtracts it), and returns the batch loss for reporting. Rules other than
backprop never call autograd: their updates are written out by hand from layer-local quantities, so what each rule
needs (which errors, which matrices, which phases) is visible in its code. A rule also describes itself as plain
data (:meth:`Rule.record`), which the frontend writes into the IR's ``learn`` dialect so hardware can build it.

Conventions: layer ``l`` of the :class:`~learning.mlp.MLP` maps ``acts[l]`` to ``hs[l]`` (pre-activation) and
``acts[l + 1] = f(hs[l])``; the last layer's output is the logits. Per-sample errors are summed over the batch and
divided by its size.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from errors import ConfigError
from learning.mlp import MLP

HyperValue = int | float | str | bool


@dataclass(frozen=True)
class FeedbackPath:
    """The error (or target) of layer ``source`` reaches ``target`` through ``matrix`` (target.out × source.out).

    ``target`` is a layer index, or -1 for the network's input (PEPITA). ``bias`` is added after the matrix
    (DTP's learned inverses).
    """

    target: int
    source: int
    matrix: np.ndarray
    bias: np.ndarray | None = None


@dataclass(frozen=True)
class RuleRecord:
    """A rule as data: its name, all hyper-parameters, the seed and its feedback paths."""

    rule: str
    hyper: dict[str, HyperValue]
    seed: int
    feedback: tuple[FeedbackPath, ...] = ()


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


class Rule(ABC):
    """A learning rule bound to one network. Subclasses set ``name`` and may add ``options`` with defaults."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    supervised: ClassVar[bool] = True
    """False for rules whose hidden layers learn without labels (only their readout sees labels)."""
    defaults: ClassVar[dict[str, HyperValue]] = {"lr": 1e-3, "optimizer": "adam", "activation": "relu"}
    """Trainer settings this rule works best with, used where the user gives none."""
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
            self._check_type(key, default, self.opts[key])
        self.generator = generator
        self.device = net.layers[0].weight.device
        self.dtype = net.layers[0].weight.dtype
        self.validate()

    def _check_type(self, key: str, default: HyperValue, value: HyperValue) -> None:
        where = f"option {key!r} of rule {self.name!r}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false, not {value!r}")
        elif isinstance(default, int):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{where} must be an integer, not {value!r}")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number, not {value!r}")
            self.opts[key] = float(value)

    def require_positive(self, *keys: str) -> None:
        for key in keys:
            value = self.opts[key]
            if isinstance(value, str) or not value > 0:
                raise ConfigError(f"option {key!r} of rule {self.name!r} must be positive, not {self.opts[key]!r}")

    def validate(self) -> None:  # noqa: B027 - a hook: most rules have nothing to check
        """Range checks on :attr:`opts`; raise :class:`ConfigError`."""

    @abstractmethod
    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Write the update direction of every parameter into ``.grad``; return the batch loss (a scalar)."""

    def extra_parameters(self) -> list[torch.Tensor]:
        """Parameters the rule owns besides the network's (DTP's inverses, FF's label weights); also optimized."""
        return []

    def feedback(self) -> tuple[FeedbackPath, ...]:
        """The rule's feedback paths (none for backprop)."""
        return ()

    def record(self, common: dict[str, HyperValue], seed: int) -> RuleRecord:
        return RuleRecord(self.name, {**common, **self.opts}, seed, self.feedback())

    # Helpers shared by the rules -----------------------------------------------------------------------------
    def random_matrix(self, rows: int, cols: int, bound: float) -> torch.Tensor:
        """A fixed random matrix, uniform in ±bound, drawn from the run's seeded generator."""
        m = (torch.rand(rows, cols, generator=self.generator, dtype=torch.float64) * 2.0 - 1.0) * bound
        return m.to(self.device, self.dtype)

    def layerwise_feedback(self, scale: float) -> list[torch.Tensor | None]:
        """One fixed random matrix per layer but the first, shaped like its weight (out × in) and uniform in
        ±scale/√in (the forward weights' initial range); entry 0 is ``None`` (nothing below layer 0 learns)."""
        return [None] + [
            self.random_matrix(layer.out_features, layer.in_features, scale / math.sqrt(layer.in_features))
            for layer in self.net.layers[1:]
        ]

    @staticmethod
    def layerwise_paths(matrices: list[torch.Tensor | None]) -> tuple[FeedbackPath, ...]:
        """Feedback paths of :meth:`layerwise_feedback` matrices: layer ``l``'s error reaches layer ``l − 1``."""
        return tuple(FeedbackPath(l - 1, l, to_numpy(m.T)) for l, m in enumerate(matrices) if m is not None)

    @staticmethod
    def output_error(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-entropy loss and the per-sample error ``softmax − onehot`` (its gradient w.r.t. the logits)."""
        loss = F.cross_entropy(logits, y)
        e = torch.softmax(logits, dim=1)
        e[torch.arange(len(y), device=y.device), y] -= 1.0
        return loss, e

    def set_layer_grad(self, index: int, delta: torch.Tensor, a_in: torch.Tensor) -> None:
        """The local update of one layer: ``dW = deltaᵀ · a_in / N`` and ``db = Σ delta / N`` (outer product)."""
        layer = self.net.layers[index]
        delta = delta / len(a_in)  # scale the thin factor, not the weight-sized product
        layer.weight.grad = delta.T @ a_in
        layer.bias.grad = delta.sum(dim=0)

    def readout_update(self, acts: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """The delta rule on the last layer only (a local, single-layer cross-entropy readout); returns the loss."""
        loss, e = self.output_error(acts[-1], y)
        self.set_layer_grad(len(self.net.layers) - 1, e, acts[-2])
        return loss
