"""Backpropagation: the baseline every local rule is measured against (the one rule that uses autograd)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from learning.rules.base import Rule


class Backprop(Rule):
    name = "bp"

    def updates(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            loss = F.cross_entropy(self.net(x), y)
            params = list(self.net.parameters())
            grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        return loss.detach()
