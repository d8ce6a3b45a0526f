"""Solves of a few right-hand sides of a big linear circuit without factorizing it: GMRES on the circuit split in
two sides that only weak resistors join.

A crossbar with wires is a set of strong chains (wire segments of ohms, anchored at a driver or a sense amplifier)
joined by weak links (the devices, kΩ to MΩ). The chains fall into two sides — a tile's row lines and its column
lines; in a network, a layer's column lines share a side with the next layer's row lines they drive — and every
weak link joins the two: the graph of chains and links is bipartite. With the unknowns so ordered,

    A = [[A_xx, A_xy], [A_yx, A_yy]]

where ``A_xx`` and ``A_yy`` are chains alone and ``A_xy``, ``A_yx`` are weak. The caller hands over the circuit
with its grounded sources substituted out (:mod:`circuits.analog.fast_reduce`), so a tile's chains are paths of
resistors; ordered along them (one depth-first walk numbers the chains and orders them, :func:`two_sides`) a side's
block is tridiagonal and LAPACK factorizes it in linear time (:class:`Tridiagonal`; a side whose chains branch or
close in a ring goes to SuperLU). The unknowns of the smaller side ``x`` solve the Schur complement
``(A_xx − A_xy A_yy⁻¹ A_yx) x = b_x − A_xy A_yy⁻¹ b_y``, by GMRES preconditioned with ``A_xx⁻¹``: the
preconditioned operator is ``I − A_xx⁻¹ A_xy A_yy⁻¹ A_yx``, the identity less a product of two weak couplings
(block Gauss–Seidel's rate, the square of the chains' own), so at 64×64 each step cuts the error about a
hundredfold and GMRES converges in five steps (at 128×128 tenfold, in seven). Then ``y = A_yy⁻¹ (b_y − A_yx x)``.
A solve costs a fraction of the factorization of ``A``, which pays only where many solves share it (a batch's
responses, the nonlinear elements); :class:`FastCircuit <circuits.analog.fast.FastCircuit>` comes here for a linear
circuit with a few inputs.

The answer is accepted only when the preconditioned residual of the Schur system — the error of ``x``, since the
operator is close to the identity — is below :data:`TOLERANCE` of the solution's largest entry; otherwise (the
chains not bipartite, a side singular, or no convergence in :data:`MAX_STEPS`) the caller factorizes ``A``, so
this path is never less exact than the direct one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse.linalg import SuperLU

WEAK = 0.01
"""A resistor is weak when its conductance is below this fraction of the strongest resistor at each of its ends."""
MIN_SIZE = 500
"""Circuits with fewer unknowns are factorized (it takes about a millisecond). Measured on tiles with 1 Ω wires,
one to 32 inputs: this path is the faster from 16×16 (832 unknowns) on, and an 8×8 tile (224) factorizes faster."""
MAX_COLUMNS = 16
"""Right-hand sides solved this way at most (more share a factorization better: measured, the two cost about the
same at 32 inputs of a 32×32 or 64×64 tile, and 16 inputs are 1.2× (16×16) to 2.3× (128×128) faster here)."""
MAX_STEPS = 40
TOLERANCE = 1e-12


def weak_resistors(ends: np.ndarray, conductance: np.ndarray, n: int) -> np.ndarray:
    """Which resistors (``ends``: node pairs, ground ``-1``; ``n`` nodes) are weak (:data:`WEAK`)."""
    strongest = np.zeros(n + 1)  # ground is n, and never weak
    at = np.where(ends < 0, n, ends)
    np.maximum.at(strongest, at[:, 0], conductance)
    np.maximum.at(strongest, at[:, 1], conductance)
    strongest[n] = np.inf
    weakest_end = np.minimum(strongest[at[:, 0]], strongest[at[:, 1]])
    return (ends[:, 0] >= 0) & (ends[:, 1] >= 0) & (conductance < WEAK * weakest_end)


class Entries(NamedTuple):
    """A matrix's entries, duplicates adding up; ``tags``: the resistor each coupling entry stems from (``-1``
    for every other entry)."""
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    tags: np.ndarray


class Sides(NamedTuple):
    """The side (0 or 1) of each unknown, and the unknowns in an order that runs along each chain (where the
    chains are paths, each side's block is tridiagonal in it)."""
    side: np.ndarray
    order: np.ndarray


def two_sides(size: int, entries: Entries, weak: np.ndarray) -> Sides | None:
    """The two sides of ``size`` unknowns such that the couplings of weak resistors (``weak``, a mask over the
    resistors the entries' tags name) join the sides and nothing else does, or ``None`` where the chains are not
    bipartite (or all on one side).

    The chains (what the other couplings join) come from one depth-first walk, from every end of a chain at once
    (a node with one neighbour or none): each chain is a stretch of the walk, in order along it where it is a
    path. Their two-colouring is the connected components of the graph of chains doubled: a link ``a–b`` joins
    ``a`` to ``b'`` and ``a'`` to ``b``, so a group of chains is bipartite exactly when it falls into two
    components (``a`` in one, ``a'`` in the other), and a chain's side is which of the two has the lower number."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components, depth_first_order

    r, k, tags = entries.rows, entries.cols, entries.tags
    coupling = np.where(tags < 0, r != k, r < k)  # each resistor's couplings in one direction, the others as are
    is_weak = np.zeros(len(tags), dtype=bool)
    is_weak[coupling & (tags >= 0)] = weak[tags[coupling & (tags >= 0)]]
    strong = coupling & ~is_weak
    a, b = r[strong], k[strong]
    graph = sp.csr_matrix((np.ones(2 * len(a), dtype=np.int32), (np.concatenate([a, b]), np.concatenate([b, a]))),
                          shape=(size + 1, size + 1))  # (its last row: a root joined to every end)
    ends = np.flatnonzero(np.diff(graph.indptr)[:size] <= 1)
    graph.indices = np.concatenate([graph.indices, ends.astype(graph.indices.dtype)])
    graph.data = np.ones(len(graph.indices), dtype=np.int32)
    graph.indptr[-1] = len(graph.indices)
    walk, parent = depth_first_order(graph, size, directed=True, return_predecessors=True)
    walk = walk[1:]
    if len(walk) == size:
        chain = np.empty(size, dtype=np.int64)
        chain[walk] = np.cumsum(parent[walk] == size, dtype=np.int32) - 1
        count = int(chain.max(initial=-1)) + 1
        order = walk
    else:  # a chain that is a loop has no end: number the chains by components, walk's order then the rest
        count, labels = connected_components(graph[:size, :size], directed=False)
        chain = labels.astype(np.int64)
        seen = np.zeros(size, dtype=bool)
        seen[walk] = True
        order = np.concatenate([walk, np.flatnonzero(~seen)])
    ca, cb = chain[r[is_weak]], chain[k[is_weak]]
    across = ca != cb  # (a weak resistor within one chain stays in its block)
    ca, cb = ca[across], cb[across]
    doubled = sp.coo_matrix((np.ones(2 * len(ca), dtype=np.int8),
                             (np.concatenate([ca, ca + count]), np.concatenate([cb + count, cb]))),
                            shape=(2 * count, 2 * count))
    label = connected_components(doubled, directed=False)[1]
    if np.any(label[:count] == label[count:]):
        return None
    side = (label[:count] > label[count:]).astype(np.int8)[chain]
    return Sides(side, order) if 0 < side.sum() < len(side) else None


class Split:
    """GMRES on the Schur complement of the smaller side of the matrix of ``couplings`` and ``diagonal``
    (``sides``: :func:`two_sides`)."""

    def __init__(self, couplings: Entries, diagonal: np.ndarray, sides: Sides) -> None:
        import scipy.sparse as sp

        side, order = sides
        if 2 * side.sum() < len(side):
            side = 1 - side  # x: the smaller side
        self.x, self.y = order[side[order] == 0], order[side[order] == 1]
        nx, ny = len(self.x), len(self.y)
        place = np.empty(len(side), dtype=np.int32)  # the unknowns reordered: x, then y, each along its chains
        place[self.x], place[self.y] = np.arange(nx), np.arange(ny)
        r, k, v = place[couplings.rows], place[couplings.cols], couplings.values
        sr, sk = side[couplings.rows], side[couplings.cols]
        cross = sr != sk
        on_x = cross & (sr == 0)
        self.xy = sp.csr_matrix((v[on_x], (r[on_x], k[on_x])), shape=(nx, ny))
        on_y = cross & (sr == 1)
        self.yx = sp.csr_matrix((v[on_y], (r[on_y], k[on_y])), shape=(ny, nx))
        self.lu_x, self.lu_y = (_factorized(diagonal[unknowns], r[inside], k[inside], v[inside])
                                for unknowns, inside in ((self.x, ~cross & (sr == 0)), (self.y, ~cross & (sr == 1))))

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


class Tridiagonal:
    """LAPACK's factors of a tridiagonal matrix (its three diagonals): Cholesky's ``L D Lᵀ`` where it is symmetric
    and positive definite (``dpttrf``), else LU with partial pivoting (``dgttrf``); linear time and memory."""

    def __init__(self, lower: np.ndarray, diagonal: np.ndarray, upper: np.ndarray) -> None:
        from scipy.linalg import lapack

        if np.array_equal(lower, upper):
            d, e, info = lapack.dpttrf(diagonal, upper)
            if info == 0:
                self.factors: tuple[np.ndarray, ...] = (d, e)
                self._solve = lapack.dpttrs
                return
        *factors, info = lapack.dgttrf(lower, diagonal, upper)
        if info != 0:
            raise RuntimeError(f"the tridiagonal block is singular at {info}")
        self.factors, self._solve = tuple(factors), lapack.dgttrs

    def solve(self, b: np.ndarray) -> np.ndarray:
        x, info = self._solve(*self.factors, b)
        assert info == 0
        return x


def _factorized(diagonal: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> Tridiagonal | SuperLU:
    """A side's block (its ``diagonal`` and the entries of the rest) factorized: in linear time where it is
    tridiagonal (its chains are paths, ordered along them: :func:`two_sides`), else by SuperLU (the chains' pattern
    is symmetric, so their factors are half as big ordered as such, and they have no dense columns to gather in
    panels: SuperLU's default of 10 clears a workspace ten columns wide)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    size = len(diagonal)
    step = cols - rows
    if size > 2 and np.all(np.abs(step) <= 1):  # (LAPACK's wrapper takes no 2×2 block)
        def band(on: np.ndarray, at: np.ndarray, length: int) -> np.ndarray:
            return np.bincount(at[on], values[on], minlength=length)

        return Tridiagonal(band(step == -1, cols, size - 1), diagonal + band(step == 0, rows, size),
                           band(step == 1, rows, size - 1))
    every = np.arange(size)
    block = sp.csc_matrix((np.concatenate([values, diagonal]), (np.concatenate([rows, every]),
                                                               np.concatenate([cols, every]))), shape=(size, size))
    return spla.splu(block, permc_spec="MMD_AT_PLUS_A", panel_size=2, options={"SymmetricMode": True})


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
