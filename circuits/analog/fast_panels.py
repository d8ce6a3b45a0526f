"""Triangular solves with many right-hand sides at dense-matrix speed: a sparse factor cut into column panels.

SuperLU's own solve (scipy's build) runs one right-hand side at a time through scalar loops, about 0.6 GFlop/s:
the 256 response columns of a 256×256 tile with wires, through factors of 17 million entries, took 9.5 s. But a
factor of a circuit is mostly a few hundred dense blocks (its supernodes: consecutive columns with one row
structure; at 256×256, 2,000 of them hold 81 % of the entries). Here the factor is cut into panels of consecutive
columns — each wide supernode one panel, the narrow columns between them in panels of up to :data:`WIDTH` — and a
solve runs panel by panel, every right-hand side at once:

    X[panel] = T⁻¹ X[panel]             (T: the panel's diagonal block, triangular, its inverse made once)
    X[rows] −= B · X[panel]             (B: the panel's entries outside it, on the rows they touch: a dense
                                         product where B is mostly filled, BLAS; else a sparse one)

Any cut into panels gives the exact solve (a diagonal block of a triangular matrix is triangular); supernodes only
make the products dense. Multiplying by a diagonal block's inverse, rather than solving with it, is one gemm per
panel; its rounding is within 1e-12 of SuperLU's solve on the tiles and networks tested
(``tests/test_circuits_fast.py``). The first columns, before the first wide supernode, hold the elimination's
leaves: few entries in many short columns, solved level by level (:class:`_Levels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix, csr_matrix

WIDTH = 32
"""Columns of a panel of narrow supernodes (a wide supernode is one panel, however wide)."""
WIDE = 8
"""Supernodes at least this wide are panels of their own."""
MAX_LEVELS = 200
"""Levels of the sparse bottom of a factor beyond which it is solved column by column instead."""
DENSE = 0.3
"""An off-diagonal block at least this full is multiplied as a dense matrix."""


@dataclass(frozen=True)
class _Panel:
    start: int
    stop: int
    inverse: np.ndarray           # (w, w): of the panel's triangular diagonal block
    rows: np.ndarray              # the rows of the top part outside the panel that its entries touch
    block: np.ndarray | csr_matrix  # (len(rows), w)


class Panels:
    """A triangular factor (``lower`` or upper; ``unit`` diagonal or not) for solves with many right-hand sides.

    Its first ``split`` columns and rows (the narrow supernodes at the bottom of the elimination, where there is
    little to gain) stay one sparse triangle, solved level by level (:class:`_Levels`); the rest is the panels
    ``cuts`` (:func:`cuts`: of the lower factor ``L``; they suit ``U``, ``Lᵀ`` and ``Uᵀ``
    too, a circuit's matrix being nearly symmetric in structure), and the entries that join the two parts are one
    sparse matrix."""

    def __init__(self, factor: csc_matrix | csr_matrix, lower: bool, unit: bool, panels: list[tuple[int, int]],
                 split: int) -> None:
        import scipy.sparse as sp
        from scipy.linalg import solve_triangular

        self.lower, self.unit, self.split = lower, unit, split
        # The bottom and the joint by rows, the panels by columns: each from the form at hand where it can be.
        if factor.format == "csr":
            by_rows = factor
        else:
            by_rows = sp.csc_matrix(factor)[:, :split].tocsr() if lower else sp.csc_matrix(factor)[:split].tocsr()
        self.bottom = _Levels(by_rows[:split, :split], lower, unit)
        self.joint = by_rows[split:, :split] if lower else by_rows[:split, split:]
        factor = sp.csc_matrix(factor)
        factor.sort_indices()
        ptr, idx, val = factor.indptr, factor.indices, factor.data
        self._seen = np.zeros(factor.shape[0], dtype=bool)
        self._where = np.zeros(factor.shape[0], dtype=np.int64)
        self.panels: list[_Panel] = []
        for start, stop in panels:
            lo, hi = ptr[start], ptr[stop]
            width = stop - start
            rows, values = idx[lo:hi], val[lo:hi]
            cols = np.repeat(np.arange(width, dtype=np.int32), np.diff(ptr[start: stop + 1]))
            ins = (rows >= start) & (rows < stop)
            diagonal = np.zeros((width, width))
            diagonal[rows[ins] - start, cols[ins]] = values[ins]
            if unit:
                np.fill_diagonal(diagonal, 1.0)
            inverse = solve_triangular(diagonal, np.eye(width), lower=lower, unit_diagonal=unit,
                                       check_finite=False) if width > 1 else 1.0 / diagonal
            out = ~ins & (rows >= split)
            out_rows, out_cols, out_values = rows[out], cols[out], values[out]
            touched, at = self._touched(out_rows)
            block: np.ndarray | csr_matrix
            if len(out_rows) >= DENSE * len(touched) * width:
                block = np.zeros((len(touched), width))
                block[at, out_cols] = out_values
            else:
                block = sp.csr_matrix((out_values, (at, out_cols)), shape=(len(touched), width))
            self.panels.append(_Panel(start, stop, inverse, touched, block))
        del self._seen, self._where  # (only the cutting needs them)

    def _touched(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct ``rows`` (sorted) and where each is among them, without sorting: marked in an array over
        the rows' range (the top part's, at most), read back in order."""
        if not len(rows):
            return rows, rows
        low, high = int(rows.min()), int(rows.max()) + 1
        self._seen[rows] = True
        touched = low + np.flatnonzero(self._seen[low:high])
        self._seen[rows] = False
        self._where[touched] = np.arange(len(touched))
        return touched, self._where[rows]

    def solve(self, x: np.ndarray) -> np.ndarray:
        """``T⁻¹ x`` for the columns of ``x`` (overwritten)."""
        s = self.split
        if self.lower:
            self.bottom.solve(x[:s])
            x[s:] -= self.joint @ x[:s]
            self._panels(x)
        else:
            self._panels(x)
            x[:s] -= self.joint @ x[s:]
            self.bottom.solve(x[:s])
        return x

    def _panels(self, x: np.ndarray) -> None:
        for p in self.panels if self.lower else reversed(self.panels):
            part = x[p.start: p.stop]
            if p.stop - p.start == 1:
                if not self.unit:
                    part *= p.inverse[0, 0]
            else:
                part = x[p.start: p.stop] = p.inverse @ part
            if len(p.rows):
                x[p.rows] -= p.block @ part


class _Levels:
    """A sparse triangle solved level by level: a row's level is one more than the deepest of the rows it depends
    on, so the rows of a level are solved at once (one sparse product), the levels in order. The bottom of a
    factor is mostly the elimination's leaves and shallow (31 levels for 155,706 rows at 256×256); a triangle
    deeper than :data:`MAX_LEVELS` is solved by scipy instead, right-hand side by right-hand side, on two
    threads."""

    def __init__(self, triangle: csr_matrix, lower: bool, unit: bool) -> None:
        import scipy.sparse as sp

        n = triangle.shape[0]
        self.triangle, self.lower, self.unit = triangle, lower, unit
        self.scale = np.ones(n) if unit else 1.0 / triangle.diagonal()
        off = sp.csr_matrix(triangle, copy=True)  # (the triangle itself keeps its diagonal)
        off.setdiag(0)
        off.eliminate_zeros()
        level = np.zeros(n, dtype=np.int64)
        has = np.diff(off.indptr) > 0
        self.levels: list[tuple[np.ndarray, csr_matrix]] | None = None
        for _ in range(MAX_LEVELS):
            deeper = np.zeros(n, dtype=np.int64)
            if has.any():
                deeper[has] = np.maximum.reduceat(level[off.indices] + 1, off.indptr[:-1][has])
            if np.array_equal(deeper, level):
                self.levels = [(rows, off[rows]) for rows in
                               np.split(np.argsort(level, kind="stable"), np.cumsum(np.bincount(level))[:-1])]
                break
            level = deeper

    def solve(self, x: np.ndarray) -> None:
        """``x ← T⁻¹ x`` in place."""
        if self.levels is None:
            x[:] = _by_columns(self.triangle, x, self.lower, self.unit)
            return
        scale = self.scale[:, None]
        for rows, block in self.levels:
            x[rows] = (x[rows] - block @ x) * scale[rows] if block.nnz else x[rows] * scale[rows]


def _by_columns(triangle: csr_matrix, x: np.ndarray, lower: bool, unit: bool) -> np.ndarray:
    """scipy's sparse triangular solve, the right-hand sides split between two threads."""
    from concurrent.futures import ThreadPoolExecutor

    from scipy.sparse.linalg import spsolve_triangular

    if not len(x) or x.shape[1] < 2:
        return spsolve_triangular(triangle, x, lower=lower, unit_diagonal=unit) if len(x) else x
    half = x.shape[1] // 2
    with ThreadPoolExecutor(2) as pool:
        parts = pool.map(lambda cols: spsolve_triangular(triangle, cols, lower=lower, unit_diagonal=unit),
                         (x[:, :half], x[:, half:]))
        return np.concatenate(list(parts), axis=1)


def cuts(lower: csc_matrix) -> tuple[list[tuple[int, int]], int]:
    """Panels of a lower factor's columns from its first supernode at least :data:`WIDE` wide (the split, also
    returned) on: each such supernode alone, the columns between them in runs of up to :data:`WIDTH`."""
    import scipy.sparse as sp

    lower = sp.csc_matrix(lower)
    lower.sort_indices()
    n = lower.shape[0]
    ptr, idx = lower.indptr, lower.indices
    count = np.diff(ptr)
    # Column j + 1 continues column j's supernode when its rows are column j's but j, compared entry by entry.
    same = np.zeros(max(n - 1, 0), dtype=bool)
    j = np.flatnonzero(count[1:] == count[:-1] - 1) if n > 1 else np.zeros(0, dtype=np.int64)
    if len(j):
        length = count[j + 1]
        offsets = np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
        differ = idx[np.repeat(ptr[j] + 1, length) + offsets] != idx[np.repeat(ptr[j + 1], length) + offsets]
        heads = np.cumsum(length) - length
        mismatches = np.add.reduceat(differ.astype(np.int64), heads) if len(differ) else np.zeros(len(j))
        same[j] = np.where(length > 0, mismatches == 0, True)
    bounds = np.append(np.flatnonzero(np.concatenate([[True], ~same])), n) if n else np.zeros(1, dtype=np.int64)
    wide = np.flatnonzero(np.diff(bounds) >= WIDE)
    split = int(bounds[wide[0]]) if len(wide) else n
    out: list[tuple[int, int]] = []
    run = -1
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if a < split:
            continue
        if b - a >= WIDE:
            if run >= 0:
                out.extend(_runs(run, a))
                run = -1
            out.append((a, b))
        elif run < 0:
            run = a
    if run >= 0:
        out.extend(_runs(run, n))
    return out, split


def _runs(start: int, stop: int) -> list[tuple[int, int]]:
    return [(a, min(a + WIDTH, stop)) for a in range(start, stop, WIDTH)]
