"""Discriminative predictive coding with iterative inference (Whittington & Bogacz 2017).

Each hidden layer holds value nodes that relax, for ``steps`` steps of size ``gamma``, to reduce the prediction
errors of the energy in :mod:`learning.rules.energy` with the output error at full strength (β = 1); then every
weight moves by its own layer's error times its presynaptic activity, ``ΔW_l ∝ ε_lᵀ a_l``.

With ``fixed_prediction`` (Millidge, Tschantz & Buckley 2022) the predictions, the output error and the
derivatives stay at their feed-forward values during inference; with ``gamma = 1`` and at least one step per
hidden layer the errors then equal backprop's deltas exactly.
"""

from __future__ import annotations

import torch

from learning.rules import energy
from learning.rules.base import Rule


class PredictiveCoding(Rule):
    name = "pc"
    summary = "predictive coding: value nodes relax to reduce layer-wise prediction errors, then local updates"
    options = {"steps": 10, "gamma": 0.2, "fixed_prediction": False}

    def validate(self) -> None:
        self.require_positive("steps", "gamma")

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        steps, gamma = int(self.opts["steps"]), float(self.opts["gamma"])
        with torch.no_grad():
            hs, acts = self.net.forward_cache(x)
            loss, _ = self.output_error(acts[-1], y)
            if self.opts["fixed_prediction"]:
                state = self._fixed_prediction(hs, acts, y, steps, gamma)
            else:
                state = energy.relax(self.net, x, y, 1.0, steps, gamma)
            for layer, (gw, gb) in zip(self.net.layers, energy.weight_grads(state), strict=True):
                layer.weight.grad, layer.bias.grad = gw, gb
        return loss

    def _fixed_prediction(self, hs: list[torch.Tensor], acts: list[torch.Tensor], y: torch.Tensor, steps: int,
                          gamma: float) -> energy.State:
        _, e = self.output_error(acts[-1], y)
        eps = [torch.zeros_like(h) for h in hs[:-1]] + [-e]
        for _ in range(steps):
            new = [eps[l] - gamma * (eps[l] - self.net.df(hs[l]) * (eps[l + 1] @ self.net.layers[l + 1].weight))
                   for l in range(len(hs) - 1)]
            eps = new + [eps[-1]]
        return energy.State(acts[:-1], eps, e)
