"""The boards' PLLs: the dividers that make the fastest clock not above a target.

- iCE40 (SB_PLL40_PAD, simple feedback): ``f_out = f_ref · (DIVF + 1) / ((DIVR + 1) · 2^DIVQ)`` with the phase
  detector at ``f_ref / (DIVR + 1)`` in 10–133 MHz, the VCO at ``f_out · 2^DIVQ`` in 533–1066 MHz, ``DIVQ`` in
  1–6 and an output in 16–275 MHz; the loop filter's range follows the phase detector's frequency (Lattice iCE40
  sysCLOCK PLL design and usage guide, TN1251; the same limits ``icepll`` searches).
- ECP5 (EHXPLLL, feedback from CLKOP): ``f_out = f_ref · CLKFB_DIV / CLKI_DIV`` with the phase detector at
  ``f_ref / CLKI_DIV`` in 3.125–400 MHz, the VCO at ``f_out · CLKOP_DIV`` in 400–800 MHz, ``CLKI_DIV`` and
  ``CLKOP_DIV`` in 1–128, ``CLKFB_DIV`` in 1–80 and an output in 10–400 MHz (Lattice ECP5 sysCLOCK PLL/DCS/DCC
  usage guide, TN1263; the limits Project Trellis' ``ecppll`` searches). Among the dividers giving the same
  output, the VCO nearest 600 MHz (the middle of its range).
"""

from __future__ import annotations

from dataclasses import dataclass

from errors import ConfigError

_FILTER = ((17e6, 1), (26e6, 2), (44e6, 3), (66e6, 4), (101e6, 5))
OUT_MIN, OUT_MAX = 16e6, 275e6
ECP5_OUT_MIN, ECP5_OUT_MAX = 10e6, 400e6


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


@dataclass(frozen=True)
class Ecp5Pll:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    hz: float

    @property
    def vco_hz(self) -> float:
        return self.hz * self.clkop_div


def ecp5_pll(ref_hz: float, want_hz: float) -> Ecp5Pll:
    """The dividers whose output is the highest frequency not above ``want_hz`` (the VCO nearest 600 MHz among
    equals)."""
    if not ECP5_OUT_MIN <= want_hz <= ECP5_OUT_MAX:
        raise ConfigError(f"--clock-mhz {want_hz / 1e6:g} is outside what the ECP5 PLL makes "
                          f"({ECP5_OUT_MIN / 1e6:g}–{ECP5_OUT_MAX / 1e6:g} MHz)")
    best: tuple[float, float] | None = None
    chosen: Ecp5Pll | None = None
    for clki_div in range(1, 129):
        pfd = ref_hz / clki_div
        if not 3.125e6 <= pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            out = pfd * clkfb_div
            if not ECP5_OUT_MIN <= out <= want_hz:
                continue
            for clkop_div in range(1, 129):
                vco = out * clkop_div
                key = (-out, abs(vco - 600e6))
                if 400e6 <= vco <= 800e6 and (best is None or key < best):
                    best, chosen = key, Ecp5Pll(clki_div, clkfb_div, clkop_div, out)
    if chosen is None:
        raise ConfigError(f"the ECP5 PLL cannot make {want_hz / 1e6:g} MHz from {ref_hz / 1e6:g} MHz")
    return chosen


def pll_for(family: str, ref_hz: float, want_hz: float) -> Ice40Pll | Ecp5Pll:
    """The PLL of a device family (``"ice40"`` or ``"ecp5"``) set for ``want_hz``."""
    return ice40_pll(ref_hz, want_hz) if family == "ice40" else ecp5_pll(ref_hz, want_hz)


def pll_range(family: str) -> tuple[float, float]:
    """The lowest and highest clock a family's PLL makes."""
    return (OUT_MIN, OUT_MAX) if family == "ice40" else (ECP5_OUT_MIN, ECP5_OUT_MAX)
