"""Exact nodal solution of a linear netlist (resistors, voltage sources, VCVS) by modified nodal analysis.

The matrix is assembled once in scipy sparse form and LU-factorized (SuperLU); each further set of source values
is one back-substitution, so a whole test set costs one factorization. This is the analog reference where wire
and source resistance make the ideal circuit equations inexact: ngspice must agree with it to ~1e-6 relative.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from circuits.analog.netlist import GROUND, Netlist
from errors import BackendError, SimulationError


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

        # Every V and E element adds a branch current unknown (and a row stating its voltage).
        branches: list[tuple[str, str, tuple[int, ...], float]] = []
        for letter, name, nodes, value in netlist.elements:
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

        matrix = sp.csc_matrix((vals, (rows, cols)), shape=(size, size))
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
        if not np.all(np.isfinite(x)):
            raise SimulationError("the nodal solution is not finite: the circuit is singular")
        return {node: x[i] for node, i in self.nodes.items()}
