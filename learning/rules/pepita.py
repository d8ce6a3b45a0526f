"""PEPITA, "present the error to perturb the input to modulate activity" (Dellaferrera & Kreiman 2022).

Two forward passes and no backward pass. The first pass gives the output error ``e = softmax − onehot``; the second
runs on the input modulated by that error through a fixed random matrix, ``x' = x + F·e``. Each hidden layer
updates with the difference of its two activities times the modulated presynaptic activity,
``ΔW_l = (a_{l+1} − a'_{l+1})ᵀ · a'_l``; the last layer with ``ΔW_L = eᵀ · a'_{L−1}``.
"""

from __future__ import annotations

import math

import torch

from learning.mlp import MLP
from learning.rules.base import FeedbackPath, HyperValue, Rule, to_numpy


class Pepita(Rule):
    name = "pepita"
    summary = "PEPITA: a second forward pass on the error-modulated input, no backward pass"
    options = {"feedback_scale": 0.05}
    """``feedback_scale``: ``F`` is uniform in ±scale·√(6 / input features), as in the paper."""

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        n_in, n_out = net.sizes[0], net.sizes[-1]
        self.F = self.random_matrix(n_in, n_out, float(self.opts["feedback_scale"]) * math.sqrt(6.0 / n_in))

    def validate(self) -> None:
        self.require_positive("feedback_scale")

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            _, acts = self.net.forward_cache(x)
            loss, e = self.output_error(acts[-1], y)
            _, mod = self.net.forward_cache(x + e @ self.F.T)
            last = len(self.net.layers) - 1
            for l in range(last):
                self.set_layer_grad(l, acts[l + 1] - mod[l + 1], mod[l])
            self.set_layer_grad(last, e, mod[last])
        return loss

    def feedback(self) -> tuple[FeedbackPath, ...]:
        return (FeedbackPath(-1, len(self.net.layers) - 1, to_numpy(self.F)),)
