"""The iCE40's PLL (SB_PLL40_PAD, simple feedback): the dividers that make the fastest clock not above a target.

``f_out = f_ref · (DIVF + 1) / ((DIVR + 1) · 2^DIVQ)`` with the phase detector at ``f_ref / (DIVR + 1)`` in
10–133 MHz, the VCO at ``f_out · 2^DIVQ`` in 533–1066 MHz, ``DIVQ`` in 1–6 and an output in 16–275 MHz; the loop
filter's range follows the phase detector's frequency (Lattice iCE40 sysCLOCK PLL design and usage guide, TN1251;
the same limits ``icepll`` searches).
"""

from __future__ import annotations

from dataclasses import dataclass

from errors import ConfigError

_FILTER = ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5))
OUT_MIN, OUT_MAX = 16e6, 275e6


@dataclass(frozen=True)
class Ice40Pll:
    divr: int
    divf: int
    divq: int
    filter_range: int
    hz: float


def ice40_pll(ref_hz: float, want_hz: float) -> Ice40Pll:
    """The dividers whose output is the highest frequency not above ``want_hz``."""
    if not OUT_MIN <= want_hz <= OUT_MAX:
        raise ConfigError(f"--clock-mhz {want_hz / 1e6:g} is outside what the iCE40 PLL makes "
                          f"({OUT_MIN / 1e6:g}–{OUT_MAX / 1e6:g} MHz)")
    best: Ice40Pll | None = None
    for divr in range(16):
        pfd = ref_hz / (divr + 1)
        if not 10e6 <= pfd <= 133e6:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533e6 <= vco <= 1066e6:
                continue
            for divq in range(1, 7):
                out = vco / 2**divq
                if OUT_MIN <= out <= want_hz and (best is None or out > best.hz):
                    band = next((r for top, r in _FILTER if pfd < top), 6)
                    best = Ice40Pll(divr, divf, divq, band, out)
    if best is None:
        raise ConfigError(f"the iCE40 PLL cannot make {want_hz / 1e6:g} MHz from {ref_hz / 1e6:g} MHz")
    return best
