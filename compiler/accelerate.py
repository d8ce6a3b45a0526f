"""The fast simulator's batch arithmetic (its products and Newton's method, :mod:`circuits.analog.fast_newton`) on
a GPU through torch, where one is present. circuits and backends never import torch: the compiler picks the
arithmetic here and hands it down (``simulate(..., ops=...)``). CPU is the tested path; the torch path is checked
against it on the CPU (``tests/test_circuits_fast.py``)."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from circuits.analog.fast_newton import NUMPY, Ops

GPU_BATCH = 4096
"""Inputs from which :func:`batch_ops` runs on a GPU (fewer are not worth the transfers and torch's start)."""
GPU_DEVICES = ("/dev/nvidiactl", "/dev/kfd")
"""Device files of NVIDIA's and AMD's GPU drivers: without one, :func:`batch_ops` does not import torch (seconds)
to be told there is no GPU."""


class TorchOps(Ops):
    """:class:`~circuits.analog.fast_newton.Ops` in torch, float64, on ``device``."""

    def __init__(self, device: str) -> None:
        import torch

        self.xp: Any = torch
        self.device = device
        self.name = f"torch ({device})"

    def asarray(self, a: Any) -> Any:
        return self.xp.as_tensor(a, dtype=self.xp.float64, device=self.device)

    def index(self, a: np.ndarray) -> Any:
        return self.xp.as_tensor(a, device=self.device)

    def numpy(self, a: Any) -> np.ndarray:
        return a.cpu().numpy()

    def zeros(self, *shape: int) -> Any:
        return self.xp.zeros(shape, dtype=self.xp.float64, device=self.device)

    def floats(self, a: Any) -> Any:
        return a.to(self.xp.float64)

    def floor(self, a: Any, low: float) -> Any:
        return self.xp.clamp(a, min=low)

    def clip(self, a: Any, low: float, high: float) -> Any:
        return self.xp.clamp(a, min=low, max=high)

    def copy(self, a: Any) -> Any:
        return a.clone()


def batch_ops(inputs: int) -> Ops:
    """Where a batch of ``inputs`` runs: on a GPU when torch sees one and the batch is at least
    :data:`GPU_BATCH`, else numpy."""
    if inputs < GPU_BATCH:
        return NUMPY
    if "torch" not in sys.modules and not any(map(os.path.exists, GPU_DEVICES)):
        return NUMPY
    import torch

    return TorchOps("cuda") if torch.cuda.is_available() else NUMPY
