"""Numbers as netlist text, many at a time: the one number format of every netlist neurocc writes.

Every value is written with 17 significant digits in exponent notation, ``d.dddddddddddddddde±XX`` less its
trailing zeros (``1e+06``, ``2.0000000000000001e-01``; three exponent digits where needed), so a float64
round-trips exactly and no SI suffix can be misread (SPICE's ``M`` is milli). :func:`fmt` writes one number with
Python's correctly rounded formatting; :func:`number_field` writes the same characters for a whole array at once
(fixed-width fields padded with spaces, which SPICE reads as separators) from array arithmetic: ``D = rint(|v| ·
10^(16 − e))`` in extended precision, four-digit groups from a lookup table, and Python's digits for the few
values within rounding error of a tie.
"""

from __future__ import annotations

import math

import numpy as np

from errors import BackendError

# Four-digit groups as one uint32 each: "0000".."9999", then the same with trailing zeros as spaces (for the last
# non-zero group of a mantissa and the zero groups after it).
_GROUPS = np.frombuffer("".join(f"{k:04d}" for k in range(10000)).encode()
                        + "".join(f"{k:04d}".rstrip("0").ljust(4) for k in range(10000)).encode(), dtype=np.uint32)
_TRAILING = np.array([4] + [len(f"{k:04d}") - len(f"{k:04d}".rstrip("0")) for k in range(1, 10000)])
_POWERS = np.array([np.longdouble(10) ** k for k in range(400)])
_LOW, _HIGH = np.longdouble(10 ** 16), np.longdouble(10 ** 17)
_EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x86 80-bit long double; elsewhere every value takes fmt's path


def fmt(value: float) -> str:
    """One number (Python's correctly rounded 17 significant digits, trailing zeros dropped); arrays go through
    :func:`number_field`, which writes exactly the same characters."""
    v = float(value) + 0.0  # -0.0 is written as 0
    if not math.isfinite(v):
        raise BackendError(f"netlist value must be finite, not {v!r}")
    mantissa, exponent = f"{v:.16e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def _scaled(a: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a · 10^(16 − e)`` in long double, and how far from exact it may be (in units of the last digit): one
    rounding of a product below 2^57 when the power of ten is exact (up to 10^27), a little more otherwise."""
    k = 16 - e
    wide = a.astype(np.longdouble)
    exact = (k >= 0) & (k <= 27)
    if exact.all():
        return wide * _POWERS[k], np.full(len(a), 0.004)
    scaled = np.where(k >= 0, wide * _POWERS[np.clip(k, 0, 399)], wide / _POWERS[np.clip(-k, 0, 399)])
    return scaled, np.where(exact, 0.004, 0.02)


def _mantissas(a: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """17 significant digits ``d`` (an int64 in [10^16, 10^17)) and the exponent ``e`` of each ``a > 0``, as
    Python's correctly rounded ``f"{a:.16e}"`` has them."""
    e = e.copy()
    scaled, error = _scaled(a, e)
    for _ in range(2):  # log10 can be one off next to a power of ten: settle 10^e ≤ a < 10^(e+1)
        off = (scaled < _LOW) | (scaled >= _HIGH)
        if not off.any():
            break
        fix = np.nonzero(off)[0]
        e[fix] += (scaled[fix] >= _HIGH).astype(np.int64) - (scaled[fix] < _LOW)
        scaled[fix], error[fix] = _scaled(a[fix], e[fix])
    d = np.rint(scaled)
    fraction = np.abs((scaled - d).astype(np.float64))
    unsure = (np.abs(fraction - 0.5) < error) | (scaled < _LOW + 1) | (scaled >= _HIGH - 1)
    if not _EXTENDED:
        unsure[:] = True
    d = d.astype(np.int64)
    for i in np.nonzero(unsure)[0].tolist():  # near a tie or a power of ten: Python's digits decide
        mantissa, exponent = f"{float(a[i]):.16e}".split("e")
        d[i], e[i] = int(mantissa.replace(".", "")), int(exponent)
    return d, e


def number_field(values: np.ndarray) -> np.ndarray:
    """Fixed-width byte strings (numpy ``S`` dtype) of ``values``: each led by its sign (``' '`` or ``'-'``),
    then exactly :func:`fmt`'s characters, then spaces."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if len(v) <= 8:  # a few numbers: the array machinery would cost more than it saves
        texts = [fmt(x) for x in v.tolist()]
        return np.array([(t if t[0] == "-" else " " + t).encode() for t in texts], dtype="S")
    if not np.all(np.isfinite(v)):
        fmt(v[~np.isfinite(v)][0])  # raises, naming the value
    a = np.abs(v)
    zero = a == 0
    a = np.where(zero, 1.0, a)
    d, e = _mantissas(a, np.floor(np.log10(a)).astype(np.int64))
    d = np.where(zero, 0, d)
    e = np.where(zero, 0, e)
    mag = np.abs(e)
    width = 24 if (mag >= 100).any() else 23
    n = len(v)
    out = np.empty((n, width), dtype=np.uint8)
    out[:, 0] = np.where(v < 0, ord("-"), ord(" "))
    top = d // 10 ** 8  # 9 digits: the leading digit and the next 8; both halves are exact in float64 from here
    bottom = (d - top * 10 ** 8).astype(np.float64)
    top = top.astype(np.float64)
    lead = np.floor(top / 1e8)
    out[:, 1] = lead.astype(np.uint8) + ord("0")
    rest = top - lead * 1e8
    hi = np.floor(rest / 1e4)
    lo = np.floor(bottom / 1e4)
    g0, g1, g3 = hi.astype(np.intp), (rest - hi * 1e4).astype(np.intp), (bottom - lo * 1e4).astype(np.intp)
    g2 = lo.astype(np.intp)
    # Trailing zeros (and a bare point) are dropped: they become spaces, and the exponent follows the last digit.
    z3 = g3 == 0
    z23 = z3 & (g2 == 0)
    z123 = z23 & (g1 == 0)
    groups = np.stack([g0 + 10000 * z123, g1 + 10000 * z23, g2 + 10000 * z3, g3 + 10000], axis=1)
    out[:, 3:19] = _GROUPS[groups].view(np.uint8).reshape(n, 16)
    kept = 16 - (_TRAILING[g3] + z3 * (_TRAILING[g2] + (g2 == 0) * (_TRAILING[g1] + (g1 == 0) * _TRAILING[g0])))
    out[:, 2] = np.where(kept > 0, ord("."), ord(" "))
    out[:, 19:] = ord(" ")
    end = np.where(kept > 0, 3 + kept, 2)
    flat = out.reshape(-1)
    at = np.arange(n) * width + end
    flat[at] = ord("e")
    flat[at + 1] = np.where(e < 0, ord("-"), ord("+"))
    three = mag >= 100
    flat[at[three] + 2] = (mag[three] // 100).astype(np.uint8) + ord("0")
    pair = _GROUPS[mag % 100].view(np.uint8).reshape(n, 4)
    flat[at + 2 + three] = pair[:, 2]
    flat[at + 3 + three] = pair[:, 3]
    used = int(end.max()) + 4 + bool(three.any())  # the batch's longest number
    return out[:, :used].copy().reshape(-1).view(f"S{used}")
