"""Unsupervised Hebbian feature learning with a local readout: Oja/Sanger's rule and competitive Hebbian learning.

The hidden layers learn without labels, each from the activity of the layer below; the last layer is a readout
trained by the delta rule. Each hidden unit's bias is an adaptive threshold, minus the running mean of its drive
``w·x`` (so about half the samples excite it): a quantity local to the unit.

- ``oja``: the generalized Hebbian algorithm (Sanger 1989), ``ΔW = η (y xᵀ − LT(y yᵀ) W)`` with ``y = W (x − x̄)``;
  for one unit it is Oja's rule, whose weight vector converges to the first principal component with unit norm.
- ``hebbian``: competitive (instar) learning, ``Δw_i = η r_i (x − w_i)`` with ``r = softmax(W x / τ)`` over units:
  each unit's weights move towards the inputs it wins, becoming prototypes.
"""

from __future__ import annotations

import torch

from learning.mlp import MLP
from learning.rules.base import HyperValue, Rule


class _LocalFeatures(Rule):
    """Shared loop: each hidden layer updates by :meth:`hebb`, its bias tracks minus the mean drive."""

    supervised = False
    defaults = {"lr": 3e-3, "optimizer": "adam", "activation": "relu"}
    options = {"threshold_rate": 0.05}

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        self.mean_in = [torch.zeros(layer.in_features, device=self.device, dtype=self.dtype)
                        for layer in net.layers[:-1]]

    def validate(self) -> None:
        self.require_positive("threshold_rate")

    def hebb(self, l: int, x: torch.Tensor) -> torch.Tensor:
        """The Hebbian update direction (ascent) of layer ``l``'s weights for centered input ``x``."""
        raise NotImplementedError

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        rate = float(self.opts["threshold_rate"])
        with torch.no_grad():
            _, acts = self.net.forward_cache(x)
            for l, layer in enumerate(self.net.layers[:-1]):
                self.mean_in[l].mul_(1 - rate).add_(acts[l].mean(dim=0), alpha=rate)
                layer.weight.grad = -self.hebb(l, acts[l] - self.mean_in[l])
                # The bias is not learned by gradient: it is set to minus the mean drive (the unit's threshold).
                layer.bias.grad = None
                layer.bias.copy_(-(layer.weight @ self.mean_in[l]))
            return self.readout_update(acts, y)


class Oja(_LocalFeatures):
    name = "oja"
    summary = "Oja/Sanger's rule: hidden units learn the input's principal components, local readout"
    # Rectifying principal-component scores throws half of each away; tanh keeps their sign.
    defaults = {"lr": 3e-3, "optimizer": "adam", "activation": "tanh"}

    def hebb(self, l: int, x: torch.Tensor) -> torch.Tensor:
        W = self.net.layers[l].weight
        yv = x @ W.T
        n = len(x)
        return (yv.T @ x - torch.tril(yv.T @ yv) @ W) / n


class Hebbian(_LocalFeatures):
    name = "hebbian"
    summary = "competitive Hebbian (instar) learning: units become prototypes of the inputs they win, local readout"
    options = {"threshold_rate": 0.05, "temperature": 0.1}

    def validate(self) -> None:
        self.require_positive("threshold_rate", "temperature")

    def hebb(self, l: int, x: torch.Tensor) -> torch.Tensor:
        W = self.net.layers[l].weight
        r = torch.softmax((x @ W.T) / float(self.opts["temperature"]), dim=1)
        return (r.T @ x - r.sum(dim=0)[:, None] * W) / len(x)
