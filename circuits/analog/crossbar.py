"""Resistive crossbar layers with transimpedance read-out, as netlist elements.

A crossbar has ``rows`` inputs and ``cols`` outputs, split into tiles of at most ``tile_rows × tile_cols``
devices. Input ``i`` drives two row lines: the ``+`` line (through the G+ devices) with the input voltage and the
``−`` line (through G−) with its negative, so each column carries ``Σᵢ (G⁺ᵢⱼ − G⁻ᵢⱼ) Vᵢ``: the differential pair
is subtracted by the circuit itself. The row tiles of one column all end on the same virtual ground, held by an
op-amp of finite gain ``A`` (a VCVS) with feedback resistor ``R_f``: their partial currents add by Kirchhoff's
law, and the inverting transimpedance stage gives ``V_out = −R_f I`` for infinite gain.

The devices are linear conductances, or nonlinear (``device``: a sinh or cubic I–V of small-signal conductance
``G`` and characteristic voltage ``device_v0``, :data:`circuits.analog.netlist.DEVICES`), each alone or behind a
selector of its own (1S1R: ``selector_g > 0``, a sinh I–V of small-signal conductance ``selector_g`` and
characteristic voltage ``selector_v0``, between the row line and a node of the cell's own).

Wire resistance ``r_wire`` sits between neighbouring cells on every row and column line of a tile (rows driven
from the tile's first column, columns read out below its last row); ``r_source`` in series with each row line's
driver and ``r_sense`` between each tile's column and the op-amp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuits.analog.netlist import GROUND, Netlist
from errors import BackendError


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
    device: str = "linear"  # or a model of circuits.analog.netlist.DEVICES: sinh, cubic
    device_v0: float = 0.25  # their characteristic voltage
    selector_g: float = 0.0  # a selector in series with every device (1S1R): its small-signal conductance; 0: none
    selector_v0: float = 0.05  # its characteristic voltage (a sinh I–V)

    def __post_init__(self) -> None:
        if self.g_pos.shape != self.g_neg.shape or self.g_pos.ndim != 2:
            raise BackendError(f"crossbar conductances must be two arrays of one 2-D shape, not {self.g_pos.shape!r} "
                               f"and {self.g_neg.shape!r}")
        for name in ("r_wire", "r_source", "r_sense", "selector_g"):
            if getattr(self, name) < 0:
                raise BackendError(f"crossbar {name} must be zero or positive, not {getattr(self, name)!r}")
        if self.tile_rows < 2 or self.tile_cols < 2:
            raise BackendError(f"tile size must be at least 2×2, not {self.tile_rows}×{self.tile_cols}")

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.g_pos.shape
        return rows, cols

    @property
    def ideal(self) -> bool:
        """No wire, source or sense resistance and linear devices: the closed form of :meth:`ideal_output`."""
        return self.r_wire == 0 and self.r_source == 0 and self.r_sense == 0 and self.device == "linear" and \
            self.selector_g == 0

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


def _nodes(stem: str, rows: int, cols: int) -> np.ndarray:
    """Node names ``<stem><i>_<j>`` as a ``rows × cols`` byte-string array."""
    heads = np.array([f"{stem}{i}_".encode() for i in range(rows)], dtype="S")
    tails = np.array([str(j).encode() for j in range(cols)], dtype="S")
    return np.strings.add(heads[:, None], tails[None, :])


def _widened(nodes: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``nodes`` in a byte-string dtype wide enough to take entries of ``other`` (numpy truncates silently)."""
    return nodes.astype(f"S{max(nodes.dtype.itemsize, other.dtype.itemsize)}")


def _column(names: list[str], shape: tuple[int, int], axis: int) -> np.ndarray:
    """``names`` (one per row, ``axis`` 0, or per column, ``axis`` 1) broadcast to a byte-string array."""
    vector = np.array([n.encode() for n in names])
    return np.broadcast_to(vector[:, None] if axis == 0 else vector[None, :], shape).copy()


def _add_tile(net: Netlist, prefix: str, xb: Crossbar, box: tuple[int, int, int, int], in_plus: list[str],
              in_minus: list[str], vg: list[str]) -> None:
    """One tile as resistor grids: row lines (``±`` for the G+/G− devices), the devices, the column lines."""
    r0, r1, c0, c1 = box
    rows, cols = r1 - r0, c1 - c0
    wired = xb.r_wire > 0
    # Column j's node at row i; its last cell sits on the op-amp's virtual ground unless a sense resistor is there.
    if wired:
        col = _nodes(f"{prefix}_c", cols, rows).T.copy()
    else:
        col = _column([f"{prefix}_c{j}" for j in range(cols)], (rows, cols), axis=1)
    if xb.r_sense == 0:
        virtual_ground = np.array([v.encode() for v in vg[c0:c1]])
        col = _widened(col, virtual_ground)
        col[-1 if wired else slice(None), :] = virtual_ground
    for sign, drivers, g in (("p", in_plus, xb.g_pos), ("n", in_minus, xb.g_neg)):
        head = driven = _column(drivers[r0:r1], (rows, 1), axis=0)
        if xb.r_source > 0:  # the driver reaches the row line through its source resistance
            head = _nodes(f"{prefix}_r{sign}", rows, 1)
            net.resistor_grid(f"{prefix}_src{sign}", driven, head, np.full((rows, 1), xb.r_source))
        if wired:
            line = _widened(_nodes(f"{prefix}_r{sign}", rows, cols), head)
            line[:, :1] = head
            net.resistor_grid(f"{prefix}_wr{sign}", line[:, :-1], line[:, 1:], np.full((rows, cols - 1), xb.r_wire))
        else:
            line = np.repeat(head, cols, axis=1)
        devices = g[r0:r1, c0:c1]
        present = devices > 0
        if xb.selector_g > 0:  # each device reaches its row line through a selector (sinh) at a node of its own
            middle = _nodes(f"{prefix}_m{sign}", rows, cols)
            net.device_grid(f"{prefix}_sel{sign}", line, middle, np.full((rows, cols), xb.selector_g), present, "sinh",
                            xb.selector_v0)
            line = middle
        if xb.device == "linear":
            net.resistor_grid(f"{prefix}_g{sign}", line, col, 1.0 / np.where(present, devices, 1.0), present)
        else:
            net.device_grid(f"{prefix}_g{sign}", line, col, devices, present, xb.device, xb.device_v0)
    if wired:
        net.resistor_grid(f"{prefix}_wc", col.T[:, :-1], col.T[:, 1:], np.full((cols, rows - 1), xb.r_wire))
    if xb.r_sense > 0:
        net.resistor_grid(f"{prefix}_sense", col[-1:, :].T, _column(vg[c0:c1], (cols, 1), axis=0),
                          np.full((cols, 1), xb.r_sense))


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
