"""Tensor types carried on the edges of the IR (the batch dimension is implicit)."""

from __future__ import annotations

from dataclasses import dataclass

DTYPES = ("f64",)
"""Element types the IR knows; the digital dialect adds fixed-point types."""


@dataclass(frozen=True, slots=True)
class TensorType:
    """Shape (without the batch dimension) and element type of the values on one port."""

    shape: tuple[int, ...]
    dtype: str = "f64"

    def __str__(self) -> str:
        return f"{self.dtype}[{'x'.join(str(d) for d in self.shape)}]"
