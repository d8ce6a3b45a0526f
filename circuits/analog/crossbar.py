"""Resistive crossbar layers with transimpedance read-out, as netlist elements.

A crossbar has ``rows`` inputs and ``cols`` outputs, split into tiles of at most ``tile_rows × tile_cols``
devices. Input ``i`` drives two row lines: the ``+`` line (through the G+ devices) with the input voltage and the
``−`` line (through G−) with its negative, so each column carries ``Σᵢ (G⁺ᵢⱼ − G⁻ᵢⱼ) Vᵢ``: the differential pair
is subtracted by the circuit itself. The row tiles of one column all end on the same virtual ground, held by an
op-amp of finite gain ``A`` (a VCVS) with feedback resistor ``R_f``: their partial currents add by Kirchhoff's
law, and the inverting transimpedance stage gives ``V_out = −R_f I`` for infinite gain.

Wire resistance ``r_wire`` sits between neighbouring cells on every row and column line of a tile (rows driven
from the tile's first column, columns read out below its last row); ``r_source`` in series with each row line's
driver and ``r_sense`` between each tile's column and the op-amp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuits.analog.netlist import GROUND, Netlist
from ir.errors import BackendError


@dataclass(frozen=True)
class Crossbar:
    g_pos: np.ndarray  # (rows, cols) siemens
    g_neg: np.ndarray
    r_feedback: float
    opamp_gain: float = 1e6
    tile_rows: int = 64
    tile_cols: int = 64
    r_wire: float = 0.0
    r_source: float = 0.0
    r_sense: float = 0.0

    def __post_init__(self) -> None:
        if self.g_pos.shape != self.g_neg.shape or self.g_pos.ndim != 2:
            raise BackendError(f"crossbar conductances must be two arrays of one 2-D shape, not {self.g_pos.shape!r} "
                               f"and {self.g_neg.shape!r}")
        for name in ("r_wire", "r_source", "r_sense"):
            if getattr(self, name) < 0:
                raise BackendError(f"crossbar {name} must be zero or positive, not {getattr(self, name)!r}")
        if self.tile_rows < 2 or self.tile_cols < 2:
            raise BackendError(f"tile size must be at least 2×2, not {self.tile_rows}×{self.tile_cols}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_pos.shape  # type: ignore[return-value]

    @property
    def ideal(self) -> bool:
        return self.r_wire == 0 and self.r_source == 0 and self.r_sense == 0

    def tiles(self) -> list[tuple[int, int, int, int]]:
        """``(row_start, row_stop, col_start, col_stop)`` of every tile, row tiles first."""
        rows, cols = self.shape
        return [(r, min(r + self.tile_rows, rows), c, min(c + self.tile_cols, cols))
                for c in range(0, cols, self.tile_cols) for r in range(0, rows, self.tile_rows)]

    def ideal_output(self, v_in: np.ndarray) -> np.ndarray:
        """Exact outputs for inputs ``(k, rows)`` when wires, source and sense are 0 Ω: the finite-gain inverting
        stage gives ``V = −R_f I / (1 + (1 + R_f ΣG) / A)``, ``ΣG`` the column's total conductance."""
        if not self.ideal:
            raise BackendError("ideal_output holds only for a crossbar without wire, source or sense resistance")
        current = v_in @ (self.g_pos - self.g_neg)
        g_total = (self.g_pos + self.g_neg).sum(axis=0)
        return -self.r_feedback * current / (1.0 + (1.0 + self.r_feedback * g_total) / self.opamp_gain)


def _add_tile(net: Netlist, prefix: str, xb: Crossbar, box: tuple[int, int, int, int], in_plus: list[str],
              in_minus: list[str], vg: list[str]) -> None:
    r0, r1, c0, c1 = box
    rows, cols = r1 - r0, c1 - c0
    wired = xb.r_wire > 0
    lines: dict[str, list[list[str]]] = {}
    for sign, drivers in (("p", in_plus), ("n", in_minus)):
        lines[sign] = []
        for i in range(rows):
            first = drivers[r0 + i]
            if xb.r_source > 0:
                first = f"{prefix}_r{i}{sign}_0"
                net.resistor(f"{prefix}_src{i}{sign}", drivers[r0 + i], first, xb.r_source)
            line = [first] + [f"{prefix}_r{i}{sign}_{j}" for j in range(1, cols)] if wired else [first] * cols
            for j in range(cols - 1 if wired else 0):
                net.resistor(f"{prefix}_wr{i}{sign}_{j}", line[j], line[j + 1], xb.r_wire)
            lines[sign].append(line)
    for j in range(cols):
        col = [f"{prefix}_c{j}_{i}" for i in range(rows)] if wired else [f"{prefix}_c{j}"] * rows
        if xb.r_sense == 0:  # the column's last cell sits on the op-amp's virtual ground itself
            col = col[:-1] + [vg[c0 + j]] if wired else [vg[c0 + j]] * rows
        for i in range(rows):
            gp, gn = xb.g_pos[r0 + i, c0 + j], xb.g_neg[r0 + i, c0 + j]
            if gp > 0:
                net.resistor(f"{prefix}_gp{i}_{j}", lines["p"][i][j], col[i], 1.0 / gp)
            if gn > 0:
                net.resistor(f"{prefix}_gn{i}_{j}", lines["n"][i][j], col[i], 1.0 / gn)
        for i in range(rows - 1 if wired else 0):
            net.resistor(f"{prefix}_wc{j}_{i}", col[i], col[i + 1], xb.r_wire)
        if xb.r_sense > 0:
            net.resistor(f"{prefix}_sense{j}", col[-1], vg[c0 + j], xb.r_sense)


def add_crossbar(net: Netlist, prefix: str, xb: Crossbar, in_plus: list[str], in_minus: list[str]) -> list[str]:
    """Add ``xb``'s tiles and read-out stages, driven by nodes ``in_plus``/``in_minus``; returns each column's
    output node."""
    rows, cols = xb.shape
    if len(in_plus) != rows or len(in_minus) != rows:
        raise BackendError(f"crossbar {prefix!r} has {rows} rows but {len(in_plus)}/{len(in_minus)} drivers")
    vg = [f"{prefix}_vg{j}" for j in range(cols)]
    for t, box in enumerate(xb.tiles()):
        _add_tile(net, f"{prefix}_t{t}", xb, box, in_plus, in_minus, vg)
    outs = []
    for j in range(cols):
        out = f"{prefix}_out{j}"
        net.vcvs(f"{prefix}_amp{j}", out, GROUND, GROUND, vg[j], xb.opamp_gain)
        net.resistor(f"{prefix}_rf{j}", vg[j], out, xb.r_feedback)
        outs.append(out)
    return outs
