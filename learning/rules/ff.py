"""Forward-forward (Hinton 2022), supervised, with a local readout.

Each hidden layer is trained on its own to give high *goodness* ``G = mean(a²)`` to positive data (an image with
its true label) and low goodness to negative data (the same image with a wrong label, drawn uniformly from the
other classes): the layer's loss is ``softplus(θ − G₊) + softplus(G₋ − θ)``, and its update is that loss's
gradient through this one layer only. The label enters the first layer through label weights ``U``, as the
deviation of the label's one-hot vector from the neutral label (1/K each): so the network run with no label, the
one that is exported and compiled, is exactly the network run with the neutral label. The last layer is a readout
trained by the delta rule on the hidden activity of that neutral pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from learning.mlp import MLP
from learning.rules.base import HyperValue, Rule


class ForwardForward(Rule):
    name = "ff"
    summary = "forward-forward: per-layer goodness, high for positive (true-label) and low for negative data"
    defaults = {"lr": 3e-3, "optimizer": "adam", "activation": "relu"}
    options = {"threshold": 2.0, "label_scale": 1.0, "hard_negatives": True}

    def __init__(self, net: MLP, options: dict[str, HyperValue], generator: torch.Generator) -> None:
        super().__init__(net, options, generator)
        first = net.layers[0]
        self.n_classes = net.sizes[-1]
        bound = 1.0 / math.sqrt(first.in_features)
        self.U = self.random_matrix(first.out_features, self.n_classes, bound)

    def validate(self) -> None:
        self.require_positive("threshold", "label_scale")

    def extra_parameters(self) -> list[torch.Tensor]:
        return [self.U]

    def label_input(self, y: torch.Tensor) -> torch.Tensor:
        """The label's deviation from the neutral label, scaled."""
        onehot = F.one_hot(y, self.n_classes).to(self.dtype)
        return (onehot - 1.0 / self.n_classes) * float(self.opts["label_scale"])

    def negative_labels(self, y: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
        """A wrong label per sample: uniform over the other classes, or (``hard_negatives``) drawn in proportion
        to the readout's belief in each wrong class, so negatives concentrate where the network is confused."""
        if logits is None or not self.opts["hard_negatives"]:
            shift = torch.randint(1, self.n_classes, y.shape, generator=self.generator).to(y.device)
            return (y + shift) % self.n_classes
        p = torch.softmax(logits.double(), dim=1)
        p[torch.arange(len(y), device=y.device), y] = 0.0
        u = torch.rand(len(y), 1, generator=self.generator, dtype=torch.float64).to(y.device)
        cdf = torch.cumsum(p / p.sum(dim=1, keepdim=True), dim=1)
        return torch.clamp((cdf < u).sum(dim=1), max=self.n_classes - 1)

    def goodness(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-sample goodness of every hidden layer for inputs ``x`` labelled ``y``."""
        return [(a ** 2).mean(dim=1) for a in self._hidden(x, self.label_input(y))[1][1:]]

    def _hidden(self, x: torch.Tensor, label: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        hs, acts = [], [x]
        for l, layer in enumerate(self.net.layers[:-1]):
            h = layer(acts[-1])
            if l == 0:
                h = h + label @ self.U.T
            hs.append(h)
            acts.append(self.net.f(h))
        return hs, acts

    def phase_grads(self, x: torch.Tensor, labels: torch.Tensor, positive: bool) -> list[torch.Tensor]:
        """Gradients of one phase's loss (``softplus(θ − G)`` positive, ``softplus(G − θ)`` negative) for every
        hidden layer's weight and bias, then ``U``: each through its own layer only."""
        theta = float(self.opts["threshold"])
        sign = 1.0 if positive else -1.0
        n = len(x)
        lab = self.label_input(labels)
        hs, acts = self._hidden(x, lab)
        out: list[torch.Tensor] = []
        for l in range(len(hs)):
            a = acts[l + 1]
            g = (a ** 2).mean(dim=1)
            # d/dG of softplus(θ − G) is −σ(θ − G); of softplus(G − θ) it is σ(G − θ).
            dg = -torch.sigmoid(sign * (theta - g)) * sign
            delta = dg[:, None] * 2.0 * a / a.shape[1] * self.net.df(hs[l])
            out += [delta.T @ acts[l] / n, delta.sum(dim=0) / n]
            if l == 0:
                grad_u = delta.T @ lab / n
        return out + [grad_u]

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits = self.net(x)  # the neutral-label pass, before this step's update
            pos = self.phase_grads(x, y, positive=True)
            neg = self.phase_grads(x, self.negative_labels(y, logits), positive=False)
            params = [p for layer in self.net.layers[:-1] for p in (layer.weight, layer.bias)] + [self.U]
            for p, gp, gn in zip(params, pos, neg, strict=True):
                p.grad = gp + gn
            _, acts = self.net.forward_cache(x)  # the neutral-label pass
            return self.readout_update(acts, y)
