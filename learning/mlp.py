"""The multi-layer perceptron every rule trains: dense layers, one hidden activation, logits out."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import overload

import torch
from torch import nn

from errors import ConfigError

Fn = Callable[[torch.Tensor], torch.Tensor]

ACTIVATIONS: dict[str, tuple[Fn, Fn, type[nn.Module]]] = {
    # name: (f, f' as a function of the pre-activation, torch module)
    "relu": (torch.relu, lambda h: (h > 0).to(h.dtype), nn.ReLU),
    "tanh": (torch.tanh, lambda h: 1.0 - torch.tanh(h) ** 2, nn.Tanh),
    "sigmoid": (torch.sigmoid, lambda h: torch.sigmoid(h) * (1.0 - torch.sigmoid(h)), nn.Sigmoid),
    "hardtanh": (lambda h: torch.clamp(h, -1.0, 1.0), lambda h: ((h > -1) & (h < 1)).to(h.dtype), nn.Hardtanh),
    "identity": (lambda h: h, torch.ones_like, nn.Identity),
}


class Linears(nn.ModuleList):
    """A ``ModuleList`` of ``nn.Linear`` layers, typed as such (indexing a plain one gives a ``Module``)."""

    @overload  # type: ignore[override]  # a slice gives a plain list, not a ModuleList
    def __getitem__(self, index: int) -> nn.Linear: ...

    @overload
    def __getitem__(self, index: slice) -> list[nn.Linear]: ...

    def __getitem__(self, index: int | slice) -> nn.Linear | list[nn.Linear]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        layer = super().__getitem__(index)
        assert isinstance(layer, nn.Linear)
        return layer

    def __iter__(self) -> Iterator[nn.Linear]:
        for layer in super().__iter__():
            assert isinstance(layer, nn.Linear)
            yield layer


class MLP(nn.Module):
    """``sizes[0]`` inputs → hidden layers with ``activation`` → ``sizes[-1]`` logits (no output activation)."""

    def __init__(self, sizes: list[int], activation: str, generator: torch.Generator) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {activation!r}: must be one of {', '.join(ACTIVATIONS)}")
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise ConfigError(f"layer sizes must be at least two positive integers, not {sizes!r}")
        self.sizes = list(sizes)
        self.activation = activation
        self.f, self.df, self._module = ACTIVATIONS[activation]
        self.layers = Linears(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        with torch.no_grad():
            for layer in self.layers:  # torch's default bounds, drawn from our generator for reproducibility
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.f(x)
        return x

    def forward_cache(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Pre-activations ``h[l]`` of every layer and activations ``a[l]`` (``a[0] = x``, ``a[-1]`` = logits)."""
        hs: list[torch.Tensor] = []
        acts = [x]
        for i, layer in enumerate(self.layers):
            h = layer(acts[-1])
            hs.append(h)
            acts.append(self.f(h) if i < len(self.layers) - 1 else h)
        return hs, acts

    def to_sequential(self) -> nn.Sequential:
        """The same network as an ``nn.Sequential`` sharing these parameters (what the frontend imports)."""
        mods: list[nn.Module] = []
        for i, layer in enumerate(self.layers):
            mods.append(layer)
            if i < len(self.layers) - 1:
                mods.append(self._module())
        return nn.Sequential(*mods)
