"""Solves of a few right-hand sides of a big linear circuit without factorizing it: GMRES on the circuit split in
two sides that only weak resistors join.

A crossbar with wires is a set of strong chains (wire segments of ohms, anchored at a driver or a sense amplifier)
joined by weak links (the devices, kΩ to MΩ). The chains fall into two sides — a tile's row lines and its column
lines; in a network, a layer's column lines share a side with the next layer's row lines they drive — and every
weak link joins the two: the graph of chains and links is bipartite. With the unknowns so ordered,

    A = [[A_xx, A_xy], [A_yx, A_yy]]

where ``A_xx`` and ``A_yy`` are chains alone (each factorizes with almost no fill: a 64×64 tile with 1 Ω wires,
50k entries for both against 528k for ``A``) and ``A_xy``, ``A_yx`` are weak. The unknowns of the smaller side
``x`` solve the Schur complement ``(A_xx − A_xy A_yy⁻¹ A_yx) x = b_x − A_xy A_yy⁻¹ b_y``, by GMRES preconditioned
with ``A_xx⁻¹``: the preconditioned operator is ``I − A_xx⁻¹ A_xy A_yy⁻¹ A_yx``, the identity less a product of
two weak couplings (block Gauss–Seidel's rate, the square of the chains' own), so at 64×64 each step cuts the
error about a hundredfold and GMRES converges in five steps (at 128×128 tenfold, in seven). Then
``y = A_yy⁻¹ (b_y − A_yx x)``. A solve costs a fraction of the factorization of ``A``, which pays only where many
solves share it (a batch's responses, the nonlinear elements); :class:`FastCircuit
<circuits.analog.fast.FastCircuit>` comes here for a linear circuit with a few inputs.

The answer is accepted only when the preconditioned residual of the Schur system — the error of ``x``, since the
operator is close to the identity — is below :data:`TOLERANCE` of the solution's largest entry; otherwise (the
chains not bipartite, a side singular, or no convergence in :data:`MAX_STEPS`) the caller factorizes ``A``, so
this path is never less exact than the direct one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

WEAK = 0.01
"""A resistor is weak when its conductance is below this fraction of the strongest resistor at each of its ends."""
MIN_SIZE = 4000
"""Circuits with fewer unknowns are factorized (it takes a few milliseconds)."""
MAX_COLUMNS = 4
"""Right-hand sides solved this way at most (more share a factorization better)."""
MAX_STEPS = 40
TOLERANCE = 1e-12


def weak_resistors(ends: np.ndarray, conductance: np.ndarray, n: int) -> np.ndarray:
    """Which resistors (``ends``: node pairs, ground ``-1``; ``n`` nodes) are weak (:data:`WEAK`)."""
    strongest = np.zeros(n + 1)  # ground is n, and never weak
    at = np.where(ends < 0, n, ends)
    np.maximum.at(strongest, at[:, 0], conductance)
    np.maximum.at(strongest, at[:, 1], conductance)
    strongest[n] = np.inf
    return (ends >= 0).all(axis=1) & (conductance < WEAK * np.minimum(strongest[at[:, 0]], strongest[at[:, 1]]))


class Entries(NamedTuple):
    """A matrix's entries, duplicates adding up; ``tags``: the resistor each coupling entry stems from (``-1``
    for every other entry)."""
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    tags: np.ndarray


def two_sides(size: int, entries: Entries, weak: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """The side (0 or 1) of each of ``size`` unknowns such that the weak resistors (``weak``, a mask over the
    resistors of ``ends``) join the sides and nothing else does, or ``None`` where the chains are not bipartite (or
    all on one side)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    r, k, tags = entries.rows, entries.cols, entries.tags
    # the couplings: a resistor's in one direction (the graph is undirected), every other one as it is
    strong = np.where(tags < 0, r != k, (r < k) & ~weak[tags])
    graph = sp.coo_matrix((np.ones(int(strong.sum()), dtype=np.int8), (r[strong], k[strong])),
                          shape=(size, size)).tocsr()
    count, chain = connected_components(graph, directed=False)
    ca, cb = chain[ends[weak, 0]], chain[ends[weak, 1]]
    across = ca != cb  # (a weak resistor within one chain stays in its block)
    ca, cb = ca[across], cb[across]
    # Colour the chains alternately along the weak links, from one chain of each connected group at once.
    links = sp.coo_matrix((np.ones(len(ca), dtype=np.int8), (ca, cb)), shape=(count, count)).tocsr()
    group = connected_components(links, directed=False)[1]
    color = np.full(count, -1, dtype=np.int64)
    color[np.unique(group, return_index=True)[1]] = 0
    while True:
        known_a, known_b = color[ca] >= 0, color[cb] >= 0
        step = known_a != known_b
        if not step.any():
            break
        color[cb[step & known_a]] = 1 - color[ca[step & known_a]]
        color[ca[step & known_b]] = 1 - color[cb[step & known_b]]
    if (color[ca] == color[cb]).any():
        return None
    side = color[chain]
    return side if 0 < side.sum() < len(side) else None


class Split:
    """GMRES on the Schur complement of the smaller side of the matrix of ``entries`` (``side``:
    :func:`two_sides`)."""

    def __init__(self, entries: Entries, side: np.ndarray) -> None:
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        if 2 * side.sum() < len(side):
            side = 1 - side  # x: the smaller side
        self.x, self.y = np.flatnonzero(side == 0), np.flatnonzero(side == 1)
        nx = len(self.x)
        place = np.empty(len(side), dtype=np.int32)  # the unknowns reordered: x, then y
        place[self.x], place[self.y] = np.arange(nx), nx + np.arange(len(self.y))
        a = sp.csc_matrix((entries.values, (place[entries.rows], place[entries.cols])), shape=(len(side),) * 2)
        self.xy, self.yx = a[:nx, nx:], a[nx:, :nx]
        # The chains' pattern is symmetric (ordered as such, their factors are half as big), and their factors
        # have no dense columns to gather in panels (SuperLU's default of 10 clears a workspace ten columns wide).
        self.lu_x, self.lu_y = (spla.splu(block, permc_spec="MMD_AT_PLUS_A", panel_size=2,
                                          options={"SymmetricMode": True}) for block in (a[:nx, :nx], a[nx:, nx:]))

    def _reduced(self, v: np.ndarray) -> np.ndarray:
        """The preconditioned Schur operator: ``v − A_xx⁻¹ A_xy A_yy⁻¹ A_yx v``."""
        return v - self.lu_x.solve(self.xy @ self.lu_y.solve(self.yx @ v))

    def solve(self, rhs: np.ndarray) -> np.ndarray | None:
        """``A⁻¹ rhs`` (columns), or ``None`` where a column did not converge."""
        out = np.zeros(rhs.shape)
        for j in range(rhs.shape[1]):
            b_x, b_y = rhs[self.x, j], rhs[self.y, j]
            start = self.lu_x.solve(b_x - self.xy @ self.lu_y.solve(b_y))
            x = gmres(self._reduced, start)
            if x is None:
                return None
            y = self.lu_y.solve(b_y - self.yx @ x)
            error = start - self._reduced(x)  # the preconditioned residual
            largest = max(float(np.abs(x).max(initial=0.0)), float(np.abs(y).max(initial=0.0)))
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))) or \
                    float(np.abs(error).max(initial=0.0)) > TOLERANCE * largest:
                return None
            out[self.x, j], out[self.y, j] = x, y
        return out


def gmres(operator: Callable[[np.ndarray], np.ndarray], start: np.ndarray) -> np.ndarray | None:
    """The solution of ``operator(x) = start`` from ``x = 0`` by GMRES (classical Gram–Schmidt, twice; Givens
    rotations), to a residual of 1e-2 · :data:`TOLERANCE` of ``start``'s; ``None`` where a step breaks down."""
    beta = _norm(start)
    if beta == 0.0:
        return np.zeros_like(start)
    basis = np.zeros((MAX_STEPS + 1, len(start)))
    basis[0] = start / beta
    h = np.zeros((MAX_STEPS + 1, MAX_STEPS))
    cos, sin = np.zeros(MAX_STEPS), np.zeros(MAX_STEPS)
    g = np.zeros(MAX_STEPS + 1)
    g[0] = beta
    for j in range(MAX_STEPS):
        w = operator(basis[j])
        col = np.zeros(MAX_STEPS + 1)
        for _ in range(2):
            c = basis[: j + 1] @ w
            w -= c @ basis[: j + 1]
            col[: j + 1] += c
        col[j + 1] = norm = _norm(w)
        for i in range(j):  # the earlier rotations, then this step's
            col[i], col[i + 1] = cos[i] * col[i] + sin[i] * col[i + 1], -sin[i] * col[i] + cos[i] * col[i + 1]
        rho = float(np.hypot(col[j], col[j + 1]))
        if rho == 0.0:
            return None
        cos[j], sin[j] = col[j] / rho, col[j + 1] / rho
        col[j], col[j + 1] = rho, 0.0
        g[j + 1], g[j] = -sin[j] * g[j], cos[j] * g[j]
        h[:, j] = col
        if abs(g[j + 1]) <= 1e-2 * TOLERANCE * beta or norm == 0.0 or j == MAX_STEPS - 1:
            return _back_substitute(h[: j + 1, : j + 1], g[: j + 1]) @ basis[: j + 1]
        basis[j + 1] = w / norm
    return None  # pragma: no cover (the loop returns at its last step)


def _norm(v: np.ndarray) -> float:
    return float(np.sqrt((v * v).sum()))  # (not BLAS: a call's threads cost more than the sum, on a busy machine)


def _back_substitute(upper: np.ndarray, g: np.ndarray) -> np.ndarray:
    import scipy.linalg as sla

    return sla.solve_triangular(upper, g)
