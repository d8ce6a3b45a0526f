"""Equilibrium propagation (Scellier & Bengio 2017) with symmetric nudging (Laborieux et al. 2021), and contrastive
Hebbian learning as its clamped, one-sided case.

The network relaxes on the energy of :mod:`learning.rules.energy` twice: nudged towards the target with strength
``+β`` and with ``−β`` (or, one-sided, ``+β`` against the free phase). The update is the contrast of the two
phases' local terms, ``(∂F/∂θ|₊β − ∂F/∂θ|₋β) / 2β``: each a product of a layer's error and its presynaptic
activity. As β → 0 (and the phases reach equilibrium) it tends to backprop's gradient.
"""

from __future__ import annotations

import torch

from learning.rules import energy
from learning.rules.base import Rule


class EquilibriumPropagation(Rule):
    name = "ep"
    summary = "equilibrium propagation: contrast of two nudged equilibria (symmetric ±β)"
    options = {"beta": 0.1, "steps": 10, "gamma": 0.2, "symmetric": True}

    def validate(self) -> None:
        self.require_positive("beta", "steps", "gamma")

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        beta, steps, gamma = float(self.opts["beta"]), int(self.opts["steps"]), float(self.opts["gamma"])
        with torch.no_grad():
            logits = self.net(x)
            loss, _ = self.output_error(logits, y)
            plus = energy.weight_grads(energy.relax(self.net, x, y, beta, steps, gamma))
            if self.opts["symmetric"]:
                minus = energy.weight_grads(energy.relax(self.net, x, y, -beta, steps, gamma))
                scale = 1.0 / (2.0 * beta)
            else:
                # The free phase is the feed-forward pass, where every ∂F₀/∂θ is zero.
                minus = [(torch.zeros_like(w), torch.zeros_like(b)) for w, b in plus]
                scale = 1.0 / beta
            for layer, (pw, pb), (mw, mb) in zip(self.net.layers, plus, minus, strict=True):
                layer.weight.grad = (pw - mw) * scale
                layer.bias.grad = (pb - mb) * scale
        return loss


class ContrastiveHebbian(EquilibriumPropagation):
    name = "chl"
    summary = "contrastive Hebbian learning: clamped phase minus free phase (EP with β = 1, one-sided)"
    options = {"beta": 1.0, "steps": 10, "gamma": 0.2, "symmetric": False}
