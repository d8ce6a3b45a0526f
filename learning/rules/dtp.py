"""Difference target propagation (Lee, Zhang, Fischer & Bengio 2015).

Targets instead of gradients travel down, through *learned* approximate inverses ``g_l(a) = f(V_l a + c_l)`` of
each layer. The output target is one step down the loss, ``t_L = logits − η · e``; each lower target adds the
inverse's *difference* to the layer's activity, ``t_l = a_l + g(t_{l+1}) − g(a_{l+1})``, which cancels the
inverse's reconstruction error. Each layer then moves its output towards its target (a one-layer squared loss),
and each inverse learns to reconstruct a noisy input of its layer. The output layer learns from ``e`` directly.
"""

from __future__ import annotations

import math

import torch

from errors import ConfigError
from learning.mlp import MLP
from learning.rules.base import FeedbackPath, HyperValue, Rule, to_numpy


class DifferenceTargetPropagation(Rule):
    name = "dtp"
    summary = "difference target propagation: targets sent down through learned layer inverses"
    options = {"target_step": 0.1, "noise": 0.1}
    """``target_step``: η of the output target; ``noise``: std of the corruption the inverses learn to undo."""

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        # V[l], c[l] invert layer l (l ≥ 1): they map that layer's output back to its input a_l.
        self.V: list[torch.Tensor | None] = [None]
        self.c: list[torch.Tensor | None] = [None]
        for layer in net.layers[1:]:
            bound = 1.0 / math.sqrt(layer.out_features)
            self.V.append(self.random_matrix(layer.in_features, layer.out_features, bound))
            self.c.append(torch.zeros(layer.in_features, device=self.device, dtype=self.dtype))

    def validate(self) -> None:
        self.require_positive("target_step")
        noise = self.opts["noise"]
        if isinstance(noise, str) or not noise >= 0:
            raise ConfigError(f"option 'noise' of rule 'dtp' must be zero or positive, not {self.opts['noise']!r}")

    def extra_parameters(self) -> list[torch.Tensor]:
        return [t for t in self.V + self.c if t is not None]

    def inverse(self, l: int, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``g_l(a)`` and its pre-activation."""
        V, c = self.V[l], self.c[l]
        assert V is not None and c is not None
        pre = a @ V.T + c
        return self.net.f(pre), pre

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        eta, sigma = float(self.opts["target_step"]), float(self.opts["noise"])
        n = len(x)
        with torch.no_grad():
            hs, acts = self.net.forward_cache(x)
            loss, e = self.output_error(acts[-1], y)
            last = len(self.net.layers) - 1
            self.set_layer_grad(last, e, acts[last])
            target = acts[-1] - eta * e  # output target
            for l in range(last, 0, -1):
                g_t, _ = self.inverse(l, target)
                g_a, _ = self.inverse(l, acts[l + 1])
                target = acts[l] + (g_t - g_a)  # target for layer l-1's output a_l
                delta = (acts[l] - target) * self.net.df(hs[l - 1])
                self.set_layer_grad(l - 1, delta, acts[l - 1])
                self._train_inverse(l, acts[l], sigma, n)
        return loss

    def _train_inverse(self, l: int, a: torch.Tensor, sigma: float, n: int) -> None:
        """One step of ``½‖g_l(f_l(a + ε)) − (a + ε)‖²`` on the inverse's own weights (one layer, by hand)."""
        noisy = a + sigma * torch.randn(a.shape, generator=self.generator, dtype=torch.float64).to(self.device, a.dtype)
        layer = self.net.layers[l]
        out = layer(noisy)
        if l < len(self.net.layers) - 1:
            out = self.net.f(out)
        rec, pre = self.inverse(l, out)
        delta = (rec - noisy) * self.net.df(pre)
        V, c = self.V[l], self.c[l]
        assert V is not None and c is not None
        V.grad = delta.T @ out / n
        c.grad = delta.sum(dim=0) / n

    def feedback(self) -> tuple[FeedbackPath, ...]:
        return tuple(FeedbackPath(l - 1, l, to_numpy(V), to_numpy(c))
                     for l, (V, c) in enumerate(zip(self.V, self.c, strict=True)) if V is not None and c is not None)
