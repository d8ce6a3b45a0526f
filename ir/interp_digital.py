"""Reference kernels of the ``digital`` dialect: integer arithmetic only (int64 numpy, exact).

The rounding and saturation here are *the* definition the hardware is verified against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ir.dialects import digital
from ir.op import Op


def saturate(q: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(q, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def shift_round(v: np.ndarray, shift: int) -> np.ndarray:
    """``round_half_up(v / 2^shift)`` for integers: ``(v + 2^(shift−1)) >> shift``; a left shift when negative."""
    if shift <= 0:
        return v << -shift
    return (v + (1 << (shift - 1))) >> shift


def quantize_float(x: np.ndarray, bits: int, frac: int) -> np.ndarray:
    """``sat(floor(x · 2^frac + 1/2))``: floats to integer codes, rounding half up like :func:`shift_round`
    (saturated while still a float, so a value beyond int64 saturates too)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) * 2.0 ** frac + 0.5), lo, hi).astype(np.int64)


def _quantize(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, digital.Quantize)
    return [quantize_float(ins[0], op.bits, op.frac)]


def _dense(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, digital.Dense)
    w = params[op.weight].astype(np.int64)
    return [ins[0].astype(np.int64) @ w.T + params[op.bias].astype(np.int64)]


def _requantize(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, digital.Requantize)
    if op.table:
        table = params[op.table].astype(np.int64)
        bits = (len(table) - 1).bit_length()
        index = saturate(shift_round(ins[0].astype(np.int64), op.in_frac - op.table_frac), bits)
        return [table[index + (1 << (bits - 1))]]
    y = shift_round(ins[0].astype(np.int64), op.in_frac - op.out_frac)
    if op.fn == "relu":
        y = np.maximum(y, 0)
    elif op.fn == "hardtanh":
        one = digital.hardtanh_one(op.out_frac)
        y = np.clip(y, -one, one)
    return [saturate(y, op.out_bits)]


def _dequantize(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, digital.Dequantize)
    return [ins[0].astype(np.float64) / 2.0 ** op.frac]


DIGITAL_KERNELS: dict[str, Callable[[Op, list[np.ndarray], Mapping[str, np.ndarray]], list[np.ndarray]]] = {
    digital.Quantize.kind: _quantize,
    digital.Dense.kind: _dense,
    digital.Requantize.kind: _requantize,
    digital.Dequantize.kind: _dequantize,
}
