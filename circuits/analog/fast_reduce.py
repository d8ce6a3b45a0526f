"""A linear circuit of resistors and sources written as nodal equations without the nodes its grounded sources fix:
what is left of a crossbar is its wires' chains alone.

In modified nodal analysis a voltage source or a VCVS adds a branch current and a row. One whose minus terminal is
ground fixes its output node: ``v_p = b_k + gain·(v_cp − v_cm)`` (a voltage source has no controls). Such a node is
no unknown of its own — it is a constant (an input driver, an inverted input) or a multiple of other voltages (an
amplifier's output, ``−μ·v_vg``) — and its branch current is whatever its node's row needs. With these nodes
substituted, a tile's rows and columns are plain chains of resistors: each a path, its matrix tridiagonal
(:mod:`circuits.analog.fast_iterative` factorizes such blocks in linear time).

Which sources go: those with a grounded minus terminal, a level at a time — a voltage source first, then a VCVS
once each of its controls is ground, a node no such source drives, or the output of a source taken already (so the
substitutions compose; sources whose controls go round in a loop stay). The reduced system is assembled straight
from the elements (a resistor between two kept nodes couples them; one to a taken node adds to its kept end's
diagonal and couples that end to what the taken node is made of) and keeps every other node's row and source's
branch. For right-hand sides ``b`` of the whole circuit (a column each) it is ``A_r u = b_r(b)``; then each taken
node's voltage follows from ``u``, and each taken source's current is what its node's row leaves over.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from circuits.analog.fast_iterative import Entries


class Sources(NamedTuple):
    """The circuit's voltage sources and VCVS, one row each: terminals (``-1``: ground), controls (``-1`` for a
    voltage source), gain (``0`` for a voltage source) and the unknown of its branch current."""
    plus: np.ndarray
    minus: np.ndarray
    control_plus: np.ndarray
    control_minus: np.ndarray
    gain: np.ndarray
    branch: np.ndarray


class _Rows:
    """Sparse rows grown a block at a time (CSR arrays): each taken node's voltage as a combination of the
    reduced unknowns."""

    def __init__(self) -> None:
        self.indptr, self.indices, self.data = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)

    def append(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, count: int) -> None:
        """``count`` rows, given as entries (in any order)."""
        order = np.argsort(rows, kind="stable")
        ends = np.searchsorted(rows[order], np.arange(count), side="right")
        self.indptr = np.concatenate([self.indptr, self.indptr[-1] + ends])
        self.indices = np.concatenate([self.indices, cols[order]])
        self.data = np.concatenate([self.data, vals[order]])

    def spread(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of ``rows``, one row after another: ``(which of rows, column, value)``."""
        counts = self.indptr[rows + 1] - self.indptr[rows]
        ends = np.cumsum(counts, dtype=np.int32)
        total = int(ends[-1]) if len(ends) else 0
        # which row each entry is of (numpy's repeat is slow for many short runs): a running count of row ends
        which = np.cumsum(np.bincount(ends[:-1], minlength=total + 1)[:total], dtype=np.int32)
        at = np.arange(total) - (ends - counts)[which] + self.indptr[rows][which]
        return which, self.indices[at], self.data[at]


class _Stamps:
    """Entries of a matrix over the reduced unknowns, gathered; a column on a taken node is spread over the node's
    substitution, and its constant part is remembered for the right-hand side. With ``square`` (the reduced
    system's own rows), spread entries that land on the diagonal are kept apart (:attr:`on_diagonal`)."""

    def __init__(self, code: np.ndarray, substitute: _Rows, square: bool) -> None:
        self.code, self.substitute, self.square = code, substitute, square
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.on_diagonal: list[tuple[np.ndarray, np.ndarray]] = []  # (row, value)
        self.moved: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row, taken node, coefficient)

    def add(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, tags: np.ndarray | None = None) -> None:
        """Entries on reduced ``rows`` (all kept) and whole-circuit unknowns ``cols``."""
        c = self.code[cols]
        direct = c >= 0
        if direct.all():
            self.parts.append((rows, c, values, np.full(len(c), -1, dtype=np.int32) if tags is None else tags))
            return
        self.parts.append((rows[direct], c[direct], values[direct],
                           np.full(int(direct.sum()), -1, dtype=np.int32) if tags is None else tags[direct]))
        taken = c <= -2
        r, node, v = rows[taken], -2 - c[taken], values[taken]
        self.moved.append((r, node, v))
        which, spread_cols, spread_values = self.substitute.spread(node)
        spread_rows, spread_values = r[which], v[which] * spread_values
        if self.square:  # (an amplifier's output in its own feedback resistor's row)
            mine = spread_rows == spread_cols
            self.on_diagonal.append((spread_rows[mine], spread_values[mine]))
            spread_rows, spread_cols, spread_values = spread_rows[~mine], spread_cols[~mine], spread_values[~mine]
        self.parts.append((spread_rows, spread_cols, spread_values, np.full(len(spread_rows), -1, dtype=np.int32)))

    def entries(self) -> Entries:
        """The entries gathered."""
        rows, cols, values, tags = ([*x] for x in zip(*self.parts, strict=True))
        return Entries(np.concatenate(rows, dtype=np.int32), np.concatenate(cols, dtype=np.int32),
                       np.concatenate(values), np.concatenate(tags, dtype=np.int32))


def _levels(pending: np.ndarray, plus: np.ndarray, controls: tuple[np.ndarray, np.ndarray], size: int) -> list[
        np.ndarray]:
    """The grounded sources (``pending``) that can be taken, a level at a time: each once its controls are ground,
    a node no pending source drives, or the output of a source of an earlier level."""
    driven = np.zeros(size + 1, dtype=bool)
    driven[plus[pending]] = True
    taken = np.zeros(size + 1, dtype=bool)
    pending = pending.copy()
    levels: list[np.ndarray] = []
    while True:
        ready = pending.copy()
        for ctrl in controls:
            ready &= ~driven[ctrl] | taken[ctrl]
        if not ready.any():
            return levels
        levels.append(np.flatnonzero(ready))
        taken[plus[ready]] = True
        pending &= ~ready


class Reduction:
    """The linear circuit of resistors (``ends``: node pairs, ground ``-1``; ``conductance``) and ``sources`` over
    ``size`` unknowns (node voltages, then the sources' branch currents), reduced:
    ``A_r`` over :attr:`size` unknowns as its :attr:`diagonal` and the entries off it, :attr:`couplings` (each
    resistor's tagged with the resistor), and :meth:`rhs` and :meth:`expand` between the two systems."""

    def __init__(self, size: int, ends: np.ndarray, conductance: np.ndarray, sources: Sources) -> None:
        import scipy.sparse as sp

        s, g = sources, conductance
        ground = size  # ground's index here (and, as -1, in the resistors' ends: code[-1] is ground's code)
        p, m, cp, cm = (np.where(a < 0, ground, a) for a in (s.plus, s.minus, s.control_plus, s.control_minus))
        self.levels = _levels((m == ground) & (p != ground), p, (cp, cm), size)
        gone = np.concatenate(self.levels) if self.levels else np.zeros(0, dtype=np.int64)
        self.nodes, self.branches = p[gone], s.branch[gone]
        keep = np.ones(size, dtype=bool)
        keep[self.nodes], keep[self.branches] = False, False
        self.kept = np.flatnonzero(keep)
        self.size = len(self.kept)
        # code: a kept unknown's place in the reduced system (>= 0), a taken node's -2 - its place among them,
        # ground's or a taken branch's -1
        code = np.full(size + 1, -1, dtype=np.int32)
        code[self.kept] = np.arange(self.size)
        code[self.nodes] = -2 - np.arange(len(gone))
        self._taken_at = np.where(code <= -2, -2 - code, len(gone))  # (len(gone): not a taken node)
        self._controls = cp, cm, s.gain
        # Each taken node's voltage in the reduced unknowns, a level at a time (its constant part is made per
        # right-hand side: _constants).
        self.substitute = _Rows()
        for level in self.levels:
            terms = _Stamps(code, self.substitute, square=False)  # (a row per source of the level)
            for ctrl, sign in ((cp[level], 1.0), (cm[level], -1.0)):
                on = (ctrl != ground) & (s.gain[level] != 0)
                terms.add(np.flatnonzero(on), ctrl[on], sign * s.gain[level][on])
            rows, cols, values, _ = (np.concatenate(x) for x in zip(*terms.parts, strict=True))
            self.substitute.append(rows, cols, values, len(level))
        # The reduced system: a resistor between two kept nodes couples them (tagged with the resistor), one to a
        # taken node couples its kept end to what the taken node is made of ...
        stamps = _Stamps(code, self.substitute, square=True)
        a, b = ends[:, 0], ends[:, 1]
        ca, cb = code[a], code[b]
        kept_a, kept_b = ca >= 0, cb >= 0
        diagonal = np.bincount(ca[kept_a], g[kept_a], minlength=self.size) + \
            np.bincount(cb[kept_b], g[kept_b], minlength=self.size)
        both = np.flatnonzero(kept_a & kept_b)
        stamps.parts.append((np.concatenate([ca[both], cb[both]]), np.concatenate([cb[both], ca[both]]),
                             np.concatenate([-g[both], -g[both]]), np.concatenate([both, both]).astype(np.int32)))
        for mine, kept_mine, other, other_code in ((ca, kept_a, b, cb), (cb, kept_b, a, ca)):
            one = kept_mine & (other_code <= -2)
            stamps.add(mine[one], other[one], -g[one])
        # ... and the sources that stay, as in modified nodal analysis
        stay = np.ones(len(p), dtype=bool)
        stay[gone] = False
        branch = s.branch[stay]
        for node, sign in ((p[stay], 1.0), (m[stay], -1.0)):
            row = code[node]
            stamps.add(row[row >= 0], branch[row >= 0], np.full(int((row >= 0).sum()), sign))
        for node, gain in ((p[stay], np.ones(stay.sum())), (m[stay], -np.ones(stay.sum())),
                           (cp[stay], -s.gain[stay]), (cm[stay], s.gain[stay])):
            on = (node != ground) & (gain != 0)
            stamps.add(code[branch[on]], node[on], gain[on])
        for rows, values in stamps.on_diagonal:
            diagonal += np.bincount(rows, values, minlength=self.size)
        self.diagonal = diagonal
        self.couplings = stamps.entries()
        r, t, v = (np.concatenate(x) for x in zip(*stamps.moved, strict=True)) if stamps.moved else \
            (np.zeros(0, dtype=np.int64),) * 2 + (np.zeros(0),)
        self._into_taken = sp.coo_matrix((v, (r, t)), shape=(self.size, len(gone)))  # constants move to the right
        # A taken source's current: its node's row of the whole circuit, less what the other unknowns carry.
        rows_t, cols_t, vals_t = [], [], []
        for here, there, code_here in ((a, b, ca), (b, a, cb)):
            at = code_here <= -2
            both_ends = at & (there >= 0)
            rows_t += [self._taken_at[here[at]], self._taken_at[here[both_ends]]]
            cols_t += [here[at], there[both_ends]]
            vals_t += [g[at], -g[both_ends]]
        for node, sign in ((p[stay], 1.0), (m[stay], -1.0)):
            at = code[node] <= -2
            rows_t.append(self._taken_at[node[at]])
            cols_t.append(branch[at])
            vals_t.append(np.full(int(at.sum()), sign))
        self._taken_rows = sp.coo_matrix((np.concatenate(vals_t), (np.concatenate(rows_t), np.concatenate(cols_t))),
                                         shape=(len(gone), size))
        self._full = size

    def _constants(self, b: np.ndarray) -> np.ndarray:
        """The taken nodes' voltages with every reduced unknown at zero."""
        cp, cm, gain = self._controls
        v = np.zeros((len(self.nodes) + 1, *b.shape[1:]))  # (the last row: any node not taken, 0 here)
        start = 0
        for level in self.levels:
            stop = start + len(level)
            scale = gain[level].reshape(-1, *([1] * (b.ndim - 1)))
            v[start:stop] = b[self.branches[start:stop]] + scale * (v[self._taken_at[cp[level]]] -
                                                                     v[self._taken_at[cm[level]]])
            start = stop
        return v[:-1]

    def rhs(self, b: np.ndarray) -> np.ndarray:
        """The reduced right-hand sides of the whole circuit's ``b`` (a column per right-hand side)."""
        return b[self.kept] - self._into_taken @ self._constants(b)

    def expand(self, u: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The whole circuit's solution from the reduced one ``u`` for the right-hand sides ``b``."""
        import scipy.sparse as sp

        x = np.zeros((self._full, *u.shape[1:]))
        x[self.kept] = u
        sub = self.substitute
        q = sp.csr_matrix((sub.data, sub.indices, sub.indptr), shape=(len(self.nodes), self.size))
        x[self.nodes] = q @ u + self._constants(b)
        x[self.branches] = b[self.nodes] - self._taken_rows @ x  # (its own branch is still 0 in x)
        return x
