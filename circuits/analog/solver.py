"""Exact nodal solution of a netlist of resistors, voltage sources, VCVS and nonlinear crossbar devices by
modified nodal analysis.

The matrix is assembled once in scipy sparse form and LU-factorized (SuperLU); each further set of source values
is one back-substitution, so a whole test set costs one factorization. With nonlinear devices
(:class:`~circuits.analog.netlist.DeviceGrid`) each input is solved by Newton's method on the whole system, the
Jacobian refactorized at every step. This is the analog reference where wire and source resistance or the
devices make the ideal circuit equations inexact: ngspice must agree with it to ~1e-6 relative.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from circuits.analog.netlist import GROUND, DeviceGrid, Netlist, device_coefficients
from errors import BackendError, SimulationError

NEWTON_STEPS = 100
CHORD_STEPS = 60


class NodalSolver:
    """Factorizes the MNA matrix of ``netlist``; :meth:`solve` gives node voltages for given source values."""

    def __init__(self, netlist: Netlist) -> None:
        self.nodes: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []

        def idx(node: str) -> int:
            return -1 if node == GROUND else self.nodes.setdefault(node, len(self.nodes))

        def put(r: int, c: int, v: float) -> None:
            if r >= 0 and c >= 0:
                rows.append(r)
                cols.append(c)
                vals.append(v)

        # Every V and E element adds a branch current unknown (and a row stating its voltage). Nonlinear devices
        # are stamped at their small-signal conductance; Newton adds the rest.
        branches: list[tuple[str, str, tuple[int, ...], float]] = []
        grids = [p for p in netlist.parts if isinstance(p, DeviceGrid)]
        self.devices: list[tuple[np.ndarray, np.ndarray, np.ndarray, str, float]] = []
        for grid in grids:
            a_names, b_names, ohms = grid._present()
            ia = np.array([idx(n.decode()) for n in a_names.tolist()], dtype=np.int64)
            ib = np.array([idx(n.decode()) for n in b_names.tolist()], dtype=np.int64)
            self.devices.append((ia, ib, 1.0 / ohms, grid.model, grid.v0))
            for k, (x, y) in enumerate(zip(ia.tolist(), ib.tolist(), strict=True)):
                g = 1.0 / float(ohms[k])
                for r, c, v in ((x, x, g), (y, y, g), (x, y, -g), (y, x, -g)):
                    put(r, c, v)
        singles = [p for p in netlist.parts if not isinstance(p, DeviceGrid)]
        plain = Netlist(netlist.title, parts=singles)
        for letter, name, nodes, value in plain.elements:
            if letter == "R":
                a, b = idx(nodes[0]), idx(nodes[1])
                g = 1.0 / float(value)
                for r, c, v in ((a, a, g), (b, b, g), (a, b, -g), (b, a, -g)):
                    put(r, c, v)
            elif letter in ("V", "E"):
                branches.append((letter, name, tuple(idx(n) for n in nodes), float(value)))
            else:
                raise BackendError(f"the nodal solver handles R, V and E elements, not {letter.lower()}{name} "
                                   "(nonlinear)")
        n = len(self.nodes)
        size = n + len(branches)
        self.rhs0 = np.zeros(size)
        self.source_index: dict[str, int] = {}
        for k, (letter, name, ns, value) in enumerate(branches):
            row = n + k
            p, m = ns[0], ns[1]
            for r, c, v in ((p, row, 1.0), (m, row, -1.0), (row, p, 1.0), (row, m, -1.0)):
                put(r, c, v)
            if letter == "E":  # V(p) − V(m) − gain·(V(cp) − V(cm)) = 0
                put(row, ns[2], -value)
                put(row, ns[3], value)
            else:  # V(p) − V(m) = value
                self.source_index["v" + name] = row
                self.rhs0[row] = value
        import scipy.sparse as sp  # here, not at the top: scipy costs half a second to import, and ir imports this
        import scipy.sparse.linalg as spla  # module for every command, most of which solve nothing

        self.matrix = matrix = sp.csc_matrix((vals, (rows, cols)), shape=(size, size))
        try:
            self.lu = spla.splu(matrix)
        except RuntimeError as e:
            raise SimulationError(f"netlist {netlist.title!r} is singular: a node may float ({e})") from e

    def solve(self, sources: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Node voltages for every column of the source values (each ``sources[name]`` of shape (k,));
        unnamed sources keep their netlist value. Returns ``{node: array of shape (k,)}``."""
        sources = sources or {}
        k = len(next(iter(sources.values()))) if sources else 1
        rhs = np.repeat(self.rhs0[:, None], k, axis=1)
        for name, values in sources.items():
            row = self.source_index.get(name.lower())
            if row is None:
                raise BackendError(f"netlist has no voltage source {name!r}")
            rhs[row] = values
        x = self.lu.solve(rhs)
        if self.devices:
            x = self._devices_solution(rhs, x)
        if not np.all(np.isfinite(x)):
            raise SimulationError("the nodal solution is not finite: the circuit is singular")
        return {node: x[i] for node, i in self.nodes.items()}

    def _injection(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What the devices add to ``A x`` beyond their small-signal conductance (for every column of ``x``), and
        the largest current among them per column."""
        out = np.zeros_like(x)
        largest = np.zeros(x.shape[1:])
        for ia, ib, g, model, v0 in self.devices:
            shape = (-1,) + (1,) * (x.ndim - 1)
            va = np.where((ia >= 0).reshape(shape), x[np.maximum(ia, 0)], 0.0)
            vb = np.where((ib >= 0).reshape(shape), x[np.maximum(ib, 0)], 0.0)
            current = device_current(model, g.reshape(shape), v0, va - vb)[0]
            extra = current - g.reshape(shape) * (va - vb)
            largest = np.maximum(largest, np.abs(current).max(axis=0))
            for node, sign in ((ia, 1.0), (ib, -1.0)):
                keep = node >= 0
                np.add.at(out, node[keep], sign * extra[keep])
        return out, largest

    def _devices_solution(self, rhs: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Every column by the chord iteration on the one factorization (the devices' extra current moved to the
        right-hand side); the columns where it does not converge by Newton's method, from the linear solution."""
        linear, injected = x, np.zeros_like(x)
        done = np.zeros(x.shape[1], dtype=bool)
        for _ in range(CHORD_STEPS):
            new, largest = self._injection(x)
            change = np.abs(new - injected).max(axis=0)
            injected = new
            x = self.lu.solve(rhs - injected)
            done = change <= 1e-13 * (largest + 1e-30)
            if done.all() or not np.all(np.isfinite(change)):
                break
        for i in np.flatnonzero(~done):
            x[:, i] = self._newton(rhs[:, i], linear[:, i])
        return x

    def _newton(self, rhs: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The solution of ``A x + (I(V) − G V)`` injected by the devices ``= rhs`` from the linear one ``x``."""
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        for _ in range(NEWTON_STEPS):
            residual = self.matrix @ x - rhs
            jac_r: list[np.ndarray] = []
            jac_c: list[np.ndarray] = []
            jac_v: list[np.ndarray] = []
            for ia, ib, g, model, v0 in self.devices:
                va = np.where(ia >= 0, x[np.maximum(ia, 0)], 0.0)
                vb = np.where(ib >= 0, x[np.maximum(ib, 0)], 0.0)
                current, slope = device_current(model, g, v0, va - vb)
                extra, dslope = current - g * (va - vb), slope - g
                for node, sign in ((ia, 1.0), (ib, -1.0)):
                    keep = node >= 0
                    np.add.at(residual, node[keep], sign * extra[keep])
                for r, c, s in ((ia, ia, 1.0), (ib, ib, 1.0), (ia, ib, -1.0), (ib, ia, -1.0)):
                    keep = (r >= 0) & (c >= 0)
                    jac_r.append(r[keep])
                    jac_c.append(c[keep])
                    jac_v.append(s * dslope[keep])
            jac = self.matrix + sp.csc_matrix((np.concatenate(jac_v), (np.concatenate(jac_r), np.concatenate(jac_c))),
                                              shape=self.matrix.shape)
            step = spla.splu(jac.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(residual)
            worst = 0.0  # the largest change of a device's voltage, in its characteristic voltages
            for ia, ib, _, _, v0 in self.devices:
                moved = np.where(ia >= 0, step[np.maximum(ia, 0)], 0.0) - np.where(ib >= 0, step[np.maximum(ib, 0)],
                                                                                    0.0)
                worst = max(worst, float(np.abs(moved).max()) / v0)
            if worst > 2.0:  # damped: no device moves by more than two characteristic voltages a step
                step = step * (2.0 / worst)
            x = x - step
            if np.abs(step).max() <= 1e-14 * (1.0 + np.abs(x).max()):
                return x
        raise SimulationError(f"Newton's method on the nonlinear devices did not converge (last step "
                              f"{np.abs(step).max():.3e})")


def device_current(model: str, conductance: np.ndarray, v0: float, volts: np.ndarray) -> tuple[np.ndarray,
                                                                                                np.ndarray]:
    """A device's current and its slope ``dI/dV`` at ``volts`` (:data:`~circuits.analog.netlist.DEVICES`)."""
    g, k = device_coefficients(model, conductance, v0)
    if model == "sinh":
        return g * np.sinh(volts * k), g * k * np.cosh(volts * k)
    return g * volts * (1 + k * volts * volts), g * (1 + 3 * k * volts * volts)
