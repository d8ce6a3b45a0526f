"""Resistive crossbar tiles with transimpedance read-out, as netlist elements.

A tile has ``rows`` inputs and ``cols`` outputs. Input ``i`` drives two row lines: the ``+`` line (through the
G+ column of devices) with the input voltage and the ``−`` line (through G−) with its negative, so each column
wire carries ``Σᵢ (G⁺ᵢⱼ − G⁻ᵢⱼ) Vᵢ``: the differential pair is subtracted by the circuit itself. Each column
ends in a virtual ground held by an op-amp of finite gain ``A`` (a VCVS) with feedback resistor ``R_f``: an
inverting transimpedance stage, ``V_out = −R_f I`` for infinite gain.

Wire resistance ``r_wire`` sits between neighbouring cells on every row and column line (rows are driven from
column 0's side, columns read out below the last row); ``r_source`` in series with each row driver and
``r_sense`` between each column and its op-amp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuits.analog.netlist import GROUND, Netlist
from ir.errors import BackendError


@dataclass(frozen=True)
class Tile:
    g_pos: np.ndarray  # (rows, cols) siemens
    g_neg: np.ndarray
    r_feedback: float
    opamp_gain: float = 1e6
    r_wire: float = 0.0
    r_source: float = 0.0
    r_sense: float = 0.0

    def __post_init__(self) -> None:
        if self.g_pos.shape != self.g_neg.shape or self.g_pos.ndim != 2:
            raise BackendError(f"tile conductances must be two arrays of one 2-D shape, not {self.g_pos.shape!r} "
                               f"and {self.g_neg.shape!r}")
        for name in ("r_wire", "r_source", "r_sense"):
            if getattr(self, name) < 0:
                raise BackendError(f"tile {name} must be zero or positive, not {getattr(self, name)!r}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_pos.shape  # type: ignore[return-value]

    def ideal_output(self, v_in: np.ndarray) -> np.ndarray:
        """Exact output voltages when wires, source and sense are ideal (0 Ω), for inputs ``(k, rows)``: the
        finite-gain inverting stage gives ``V = −R_f I / (1 + (1 + R_f ΣG) / A)``, ``ΣG`` the column's total
        conductance."""
        if self.r_wire or self.r_source or self.r_sense:
            raise BackendError("ideal_output holds only for a tile without wire, source or sense resistance")
        current = v_in @ (self.g_pos - self.g_neg)
        g_total = (self.g_pos + self.g_neg).sum(axis=0)
        return -self.r_feedback * current / (1.0 + (1.0 + self.r_feedback * g_total) / self.opamp_gain)


def add_tile(net: Netlist, prefix: str, tile: Tile, in_plus: list[str], in_minus: list[str]) -> list[str]:
    """Add ``tile``'s devices, wires and read-out stages, driven by nodes ``in_plus``/``in_minus``; returns the
    output node of every column."""
    rows, cols = tile.shape
    if len(in_plus) != rows or len(in_minus) != rows:
        raise BackendError(f"tile {prefix!r} has {rows} rows but {len(in_plus)}/{len(in_minus)} drivers")
    wired = tile.r_wire > 0
    # row_nodes[sign][i][j]: the node of row line i (sign p or n) at column j; one node per line without wires.
    row_nodes: dict[str, list[list[str]]] = {}
    for sign, drivers in (("p", in_plus), ("n", in_minus)):
        row_nodes[sign] = []
        for i, driver in enumerate(drivers):
            first = driver
            if tile.r_source > 0:
                first = f"{prefix}_r{i}{sign}_0"
                net.resistor(f"{prefix}_src{i}{sign}", driver, first, tile.r_source)
            line = [first] + [f"{prefix}_r{i}{sign}_{j}" for j in range(1, cols)] if wired else [first] * cols
            for j in range(cols - 1 if wired else 0):
                net.resistor(f"{prefix}_wr{i}{sign}_{j}", line[j], line[j + 1], tile.r_wire)
            row_nodes[sign].append(line)

    def row_node(i: int, j: int, sign: str) -> str:
        return row_nodes[sign][i][j]

    def col_node(i: int, j: int) -> str:
        return f"{prefix}_c{j}_{i if wired else 0}"

    for i in range(rows):
        for j in range(cols):
            if tile.g_pos[i, j] > 0:
                net.resistor(f"{prefix}_gp{i}_{j}", row_node(i, j, "p"), col_node(i, j), 1.0 / tile.g_pos[i, j])
            if tile.g_neg[i, j] > 0:
                net.resistor(f"{prefix}_gn{i}_{j}", row_node(i, j, "n"), col_node(i, j), 1.0 / tile.g_neg[i, j])
    outs = []
    for j in range(cols):
        if wired:
            for i in range(rows - 1):
                net.resistor(f"{prefix}_wc{j}_{i}", col_node(i, j), col_node(i + 1, j), tile.r_wire)
        bottom = col_node(rows - 1, j)
        vg = f"{prefix}_vg{j}"
        if tile.r_sense > 0:
            net.resistor(f"{prefix}_sense{j}", bottom, vg, tile.r_sense)
        else:
            vg = bottom
        out = f"{prefix}_out{j}"
        net.vcvs(f"{prefix}_amp{j}", out, GROUND, GROUND, vg, tile.opamp_gain)
        net.resistor(f"{prefix}_rf{j}", vg, out, tile.r_feedback)
        outs.append(out)
    return outs
