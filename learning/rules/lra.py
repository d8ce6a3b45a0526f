"""Local representation alignment, LRA-E (Ororbia & Mali 2019).

Each hidden layer gets a *target* representation instead of a gradient: the error ``d_{l+1}`` of the layer above,
carried down by a fixed random matrix ``E_{l+1}``, displaces the layer's pre-activation, and the target is that
displaced state through the nonlinearity: ``t_l = f(h_l − β · d_{l+1} · E_{l+1})``. The layer's own error is its
distance to the target, ``d_l = (f(h_l) − t_l) / β``, and its update is ``d_lᵀ · a_l``. For small β this tends to
feedback alignment; for finite β the error passes through the nonlinearity at each layer. (Here ``E`` stays fixed;
LRA-E's optional slow adaptation of ``E`` is left out.)
"""

from __future__ import annotations

import torch

from learning.mlp import MLP
from learning.rules.base import FeedbackPath, HyperValue, Rule


class LocalRepresentationAlignment(Rule):
    name = "lra"
    summary = "local representation alignment: per-layer targets from errors carried by fixed random matrices"
    options = {"beta": 0.1, "feedback_scale": 1.0}

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        self.E = self.layerwise_feedback(float(self.opts["feedback_scale"]))

    def validate(self) -> None:
        self.require_positive("beta", "feedback_scale")

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        beta = float(self.opts["beta"])
        with torch.no_grad():
            hs, acts = self.net.forward_cache(x)
            loss, d = self.output_error(acts[-1], y)
            for l in range(len(self.net.layers) - 1, -1, -1):
                self.set_layer_grad(l, d, acts[l])
                E = self.E[l]
                if E is not None:
                    target = self.net.f(hs[l - 1] - beta * (d @ E))
                    d = (acts[l] - target) / beta
        return loss

    def feedback(self) -> tuple[FeedbackPath, ...]:
        return self.layerwise_paths(self.E)
