"""The activation functions of the IR, in float64 numpy (shared by the ``nn`` and ``analog`` kernels)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ir.dialects.nn import ACTIVATIONS


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # Split by sign so exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


ACTIVATION_FNS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hardtanh": lambda x: np.clip(x, -1.0, 1.0),
    "identity": lambda x: x,
}
assert set(ACTIVATION_FNS) == set(ACTIVATIONS)
