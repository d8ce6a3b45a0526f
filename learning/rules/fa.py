"""Feedback alignment (Lillicrap et al. 2016).

Backprop's backward pass with each forward weight ``W_{l+1}`` replaced, on the way back, by a fixed random matrix
``B_{l+1}`` of the same shape: ``δ_l = (δ_{l+1} · B_{l+1}) ⊙ f'(h_l)``, ``δ_L = e``. The forward weights come to
align with the feedback. With ``B = W`` this is exactly backprop.
"""

from __future__ import annotations

import torch

from learning.mlp import MLP
from learning.rules.base import FeedbackPath, HyperValue, Rule


class FeedbackAlignment(Rule):
    name = "fa"
    summary = "feedback alignment: backprop's backward pass through fixed random matrices"
    options = {"feedback_scale": 1.0}
    """``feedback_scale``: ``B_l`` is uniform in ±scale/√in_features (the forward weights' initial range)."""

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        self.B = self.layerwise_feedback(float(self.opts["feedback_scale"]))

    def validate(self) -> None:
        self.require_positive("feedback_scale")

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            hs, acts = self.net.forward_cache(x)
            loss, delta = self.output_error(acts[-1], y)
            for l in range(len(self.net.layers) - 1, -1, -1):
                self.set_layer_grad(l, delta, acts[l])
                B = self.B[l]
                if B is not None:
                    delta = (delta @ B) * self.net.df(hs[l - 1])
        return loss

    def feedback(self) -> tuple[FeedbackPath, ...]:
        return self.layerwise_paths(self.B)
