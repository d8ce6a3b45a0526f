"""Solves of a few right-hand sides of a big linear circuit without factorizing it: GMRES, preconditioned by the
circuit with its weak couplings cut.

A crossbar with wires is a set of strong chains (wire segments of ohms, anchored at a driver or a sense amplifier)
joined by weak links (the devices, kΩ to MΩ). Cutting every weak resistor's coupling — dropping its two
off-diagonal entries of ``A`` but keeping its conductance on the diagonals — leaves the chains apart: ``P`` factorizes
with almost no fill (a 64×64 tile with 1 Ω wires: 50k entries against 450k for ``A``) and ``P⁻¹ A`` is close to
the identity, so GMRES converges in about ten steps. One solve then costs a fraction of the factorization of ``A``,
which pays only where many solves share it (a batch's responses, the nonlinear elements); :class:`FastCircuit
<circuits.analog.fast.FastCircuit>` comes here for a linear circuit with a few inputs.

The answer is accepted only when the preconditioned residual ``P⁻¹(b − A x)`` — the error, since ``P⁻¹ A ≈ I`` —
is below :data:`TOLERANCE` of the solution's largest entry; otherwise (``P`` singular, or no convergence in
:data:`MAX_STEPS`) the caller factorizes ``A``, so this path is never less exact than the direct one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix

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


class Preconditioned:
    """GMRES on ``A``, preconditioned by ``A`` without the weak resistors' couplings (``ends``, ``conductance``)."""

    def __init__(self, matrix: csc_matrix, ends: np.ndarray, conductance: np.ndarray) -> None:
        import scipy.sparse as sp
        import scipy.sparse.linalg as spla

        self.matrix = matrix.tocsr()
        a, b = ends[:, 0], ends[:, 1]
        cut = sp.csc_matrix((np.concatenate([conductance, conductance]),
                             (np.concatenate([a, b]), np.concatenate([b, a]))), shape=matrix.shape)
        chains = (matrix + cut).tocsc()
        chains.eliminate_zeros()  # (the cut entries cancel exactly; left in, they would count as fill)
        self.lu = spla.splu(chains, permc_spec="MMD_AT_PLUS_A")

    def _precondition(self, v: np.ndarray) -> np.ndarray:
        return self.lu.solve(v)

    def solve(self, rhs: np.ndarray) -> np.ndarray | None:
        """``A⁻¹ rhs`` (columns), or ``None`` where a column did not converge."""
        out = np.zeros(rhs.shape)
        for j in range(rhs.shape[1]):
            x = self._column(rhs[:, j])
            if x is None:
                return None
            out[:, j] = x
        return out

    def _column(self, b: np.ndarray) -> np.ndarray | None:
        """Left-preconditioned GMRES from ``x = 0`` (classical Gram–Schmidt, twice; Givens rotations)."""
        r = self._precondition(b)
        beta = _norm(r)
        if beta == 0.0:
            return np.zeros_like(b)
        basis = np.zeros((MAX_STEPS + 1, len(b)))
        basis[0] = r / beta
        h = np.zeros((MAX_STEPS + 1, MAX_STEPS))
        cos, sin = np.zeros(MAX_STEPS), np.zeros(MAX_STEPS)
        g = np.zeros(MAX_STEPS + 1)
        g[0] = beta
        for j in range(MAX_STEPS):
            w = self._precondition(self.matrix @ basis[j])
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
                y = _back_substitute(h[: j + 1, : j + 1], g[: j + 1])
                x = y @ basis[: j + 1]
                return x if self._accurate(b, x) else None
            basis[j + 1] = w / norm
        return None  # pragma: no cover (the loop returns at its last step)

    def _accurate(self, b: np.ndarray, x: np.ndarray) -> bool:
        """Whether the error estimate ``P⁻¹(b − A x)`` is below :data:`TOLERANCE` of ``x``'s largest entry."""
        error = self._precondition(b - self.matrix @ x)
        return bool(np.all(np.isfinite(x))) and float(np.abs(error).max()) <= TOLERANCE * float(np.abs(x).max())


def _norm(v: np.ndarray) -> float:
    return float(np.sqrt((v * v).sum()))  # (not BLAS: a call's threads cost more than the sum, on a busy machine)


def _back_substitute(upper: np.ndarray, g: np.ndarray) -> np.ndarray:
    import scipy.linalg as sla

    return sla.solve_triangular(upper, g)
