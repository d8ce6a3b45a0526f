"""The layered prediction-error energy that predictive coding and equilibrium propagation relax.

Value nodes ``v_l`` hold the pre-activations of the hidden layers. With ``a_0 = x`` and ``a_{l+1} = f(v_l)``,
layer ``l`` predicts ``μ_l = W_l a_l + b_l``, and the energy is

    F_β(v) = Σ_hidden ½‖v_l − μ_l‖² + β · CE(μ_L, y)

Its free minimum (β = 0) is the feed-forward pass, so a network trained on it is an ordinary MLP that compiles to
circuits like any other. The relaxation is plain gradient descent on ``v`` with step ``gamma``; every term of
``∂F/∂v_l = ε_l − f'(v_l) ⊙ (ε_{l+1} · W_{l+1})`` is local to layer ``l`` and its neighbours, with
``ε_l = v_l − μ_l`` and ``ε_L = −β (softmax(μ_L) − onehot)`` at the output. ``∂F/∂W_l = −ε_lᵀ a_l``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from learning.mlp import MLP


@dataclass
class State:
    """A relaxed state: presynaptic activities ``a[l]`` and errors ``eps[l]`` of every layer (``eps[-1]`` output)."""

    acts: list[torch.Tensor]
    eps: list[torch.Tensor]
    out_error: torch.Tensor  # softmax − onehot at this state


def errors(net: MLP, v: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor, beta: float) -> State:
    acts = [x] + [net.f(vl) for vl in v]
    eps = [vl - layer(a) for vl, layer, a in zip(v, net.layers[:-1], acts[:-1], strict=True)]  # hidden layers
    logits = net.layers[-1](acts[-1])
    g = torch.softmax(logits, dim=1)
    g[torch.arange(len(y), device=y.device), y] -= 1.0
    eps.append(-beta * g)
    return State(acts, eps, g)


def relax(net: MLP, x: torch.Tensor, y: torch.Tensor, beta: float, steps: int, gamma: float) -> State:
    """Start at the feed-forward pass and take ``steps`` gradient steps of size ``gamma`` on ``F_β``."""
    hs, _ = net.forward_cache(x)
    v = [h.clone() for h in hs[:-1]]
    for _ in range(steps):
        s = errors(net, v, x, y, beta)
        for l in range(len(v)):
            v[l] -= gamma * (s.eps[l] - net.df(v[l]) * (s.eps[l + 1] @ net.layers[l + 1].weight))
    return errors(net, v, x, y, beta)


def weight_grads(state: State) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(∂F/∂W_l, ∂F/∂b_l)`` of every layer at a state, averaged over the batch."""
    n = len(state.acts[0])
    return [(-(e.T @ a) / n, -e.sum(dim=0) / n) for e, a in zip(state.eps, state.acts, strict=True)]
