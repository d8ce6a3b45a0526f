"""Direct feedback alignment (Nøkland 2016).

The output error ``e = softmax − onehot`` is broadcast to every hidden layer ``l`` through a fixed random matrix
``B_l`` (hidden_l × classes): ``δ_l = (e · B_lᵀ) ⊙ f'(h_l)``, and each layer updates with the outer product
``δ_lᵀ · a_l``. No weight is transported backwards and no error passes through another layer: every update uses
only the broadcast error and quantities local to the layer. The output layer uses ``e`` directly.
"""

from __future__ import annotations

import math

import torch

from learning.mlp import MLP
from learning.rules.base import FeedbackPath, HyperValue, Rule, to_numpy


class DirectFeedbackAlignment(Rule):
    name = "dfa"
    summary = "direct feedback alignment: output error broadcast to every layer by fixed random matrices"
    options = {"feedback_scale": 1.0}
    """``feedback_scale``: the entries of ``B_l`` are uniform in ±scale/√classes."""

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        n_out = net.sizes[-1]
        bound = float(self.opts["feedback_scale"]) / math.sqrt(n_out)
        self.B = [self.random_matrix(h, n_out, bound) for h in net.sizes[1:-1]]

    def validate(self) -> None:
        self.require_positive("feedback_scale")

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            hs, acts = self.net.forward_cache(x)
            loss, e = self.output_error(acts[-1], y)
            last = len(self.net.layers) - 1
            self.set_layer_grad(last, e, acts[last])
            for l, B in enumerate(self.B):
                delta = (e @ B.T) * self.net.df(hs[l])
                self.set_layer_grad(l, delta, acts[l])
        return loss

    def feedback(self) -> tuple[FeedbackPath, ...]:
        last = len(self.net.layers) - 1
        return tuple(FeedbackPath(l, last, to_numpy(B)) for l, B in enumerate(self.B))
