"""The nonlinear elements of a batch — diodes (ngspice's equations, SPICE's junction limiting) and behavioural
sources — solved by block Newton steps, on numpy or (handed down by the compiler) on a GPU.

The elements satisfy ``u = y_lin + M q(u)`` (``u`` their controls, ``q`` their outputs, ``M`` how each output moves
each control; :mod:`circuits.analog.fast`). ``M`` couples them in small blocks (a rectifier's two diodes) that feed
each other one way (a layer's activations feed the next through ideal drivers): Newton's method runs on each
block, all blocks of a level and every input of the batch at once, the levels in order, and a second sweep
confirms the first. Blocks of one and two elements are solved in closed form (Cramer's rule, forward stable for
two unknowns), bigger ones by LU.

The arithmetic is written once, over :class:`Ops`: numpy's (the tested path, and every batch on a machine
without a GPU) or torch's in float64 (:mod:`compiler.accelerate`). The two agree to rounding
(``tests/test_circuits_fast.py`` runs the torch path on the CPU against numpy's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_ITERATIONS = 200
"""Newton steps per block and sweep."""
MAX_SWEEPS = 6
STEP_TOLERANCE = 1e-8
"""A Newton step below this fraction of ``1 V + |u|`` has converged: Newton converges quadratically (the step
before such a one was the last to matter), and the op-amps' gain (1e6) makes the blocks' Jacobians so
ill-conditioned that steps stall at 1e-10 to 2e-9 V, the rounding of ``M q`` (volts of 1e5 cancelling)."""
COUPLING = 1e-12
"""Entries of ``M`` below this fraction of their row's largest do not join blocks (the final residual check
keeps the result exact)."""
Array = Any
"""A numpy array or a torch tensor (float64)."""


@dataclass(frozen=True)
class NonConvergence:
    """Where Newton's method stopped short: input, element, and the last residual (its Newton step, volts)."""
    sample: int
    element: str
    residual: float


class Stalled(Exception):
    def __init__(self, where: NonConvergence) -> None:
        super().__init__(where)
        self.where = where


class Ops:
    """The array operations Newton needs, numpy's. A subclass may run them elsewhere (``xp``: a module with
    numpy's names for ``exp``, ``log``, ``where``, ``abs``, ``minimum``, ``tanh``, ``zeros_like``, ``stack`` and
    ``linalg.solve``, and the methods here that differ): :class:`compiler.accelerate.TorchOps` runs them on a GPU
    (circuits never import torch; the compiler hands its arithmetic down)."""

    xp: Any = np
    name = "numpy"

    def asarray(self, a: np.ndarray | Array) -> Array:
        return np.asarray(a, dtype=np.float64)

    def index(self, a: np.ndarray) -> Array:
        return a

    def numpy(self, a: Array) -> np.ndarray:
        return np.asarray(a)

    def zeros(self, *shape: int) -> Array:
        return np.zeros(shape)

    def floats(self, a: Array) -> Array:
        """A boolean array as 0.0 / 1.0."""
        return np.asarray(a, dtype=np.float64)

    def floor(self, a: Array, low: float) -> Array:
        return np.maximum(a, low)

    def clip(self, a: Array, low: float, high: float) -> Array:
        return np.clip(a, low, high)

    def copy(self, a: Array) -> Array:
        return np.array(a, copy=True)

    def solve(self, jac: Array, rhs: Array) -> Array:
        """``jac⁻¹ rhs`` for stacks of small systems (``jac``: (..., b, b), ``rhs``: (..., b))."""
        b = jac.shape[-1]
        if b == 1:
            return rhs / jac[..., 0]
        if b == 2:
            a, c, d, e = jac[..., 0, 0], jac[..., 0, 1], jac[..., 1, 0], jac[..., 1, 1]
            det = a * e - c * d
            return self.xp.stack([(e * rhs[..., 0] - c * rhs[..., 1]) / det,
                                  (a * rhs[..., 1] - d * rhs[..., 0]) / det], -1)
        return self.xp.linalg.solve(jac, rhs[..., None])[..., 0]


NUMPY = Ops()


@dataclass
class Elements:
    """The nonlinear elements: ``nd`` diodes (``vte`` = n·V_T, saturation current ``i_sat``), then behavioural
    sources ``a · fn(g · u)``; ``names`` of all of them."""
    names: list[str]
    nd: int
    vte: np.ndarray
    i_sat: np.ndarray
    fn: list[str]
    g: np.ndarray
    a: np.ndarray

    def __post_init__(self) -> None:
        safe = np.where(self.i_sat > 0, self.i_sat, 1.0)
        self.vcrit = self.vte * np.log(self.vte / (math.sqrt(2.0) * safe))

    def outputs(self, u: Array, which: np.ndarray, ops: Ops = NUMPY) -> tuple[Array, Array]:
        """``q(u)`` and ``q'(u)`` of elements ``which`` (columns of ``u``)."""
        xp = ops.xp
        q, dq = xp.zeros_like(u), xp.zeros_like(u)
        diode = which < self.nd
        if diode.any():
            j, cols = which[diode], ops.index(diode)
            vd, vte, isat = u[:, cols], ops.asarray(self.vte[j]), ops.asarray(self.i_sat[j])
            forward = vd >= -3 * vte
            ev = xp.exp(xp.minimum(vd, 3 * vte * 200) / vte)  # finite: limiting keeps vd far below this
            below = xp.where(forward, -1.0, vd)
            arg = (3 * vte / (below * math.e)) ** 3
            q[:, cols] = xp.where(forward, isat * (ev - 1), -isat * (1 + arg))
            dq[:, cols] = xp.where(forward, isat * ev / vte, isat * 3 * arg / below)
        if (~diode).any():
            k, cols = which[~diode] - self.nd, ops.index(~diode)
            x = u[:, cols] * ops.asarray(self.g[k])
            fns = np.array(self.fn)[k]
            val, slope = xp.zeros_like(x), xp.zeros_like(x)
            for fn in ("tanh", "sigmoid", "hardtanh", "relu"):
                sel = fns == fn
                if sel.any():
                    s = ops.index(sel)
                    val[:, s], slope[:, s] = _function(fn, x[:, s], ops)
            q[:, cols] = ops.asarray(self.a[k]) * val
            dq[:, cols] = ops.asarray(self.a[k] * self.g[k]) * slope
        return q, dq

    def limit(self, new: Array, old: Array, which: np.ndarray, ops: Ops = NUMPY) -> Array:
        """SPICE's junction limiting on the diodes' voltages (behavioural controls pass unchanged)."""
        diode = which < self.nd
        if not diode.any():
            return new
        xp = ops.xp
        j, cols = which[diode], ops.index(diode)
        vte, vcrit = ops.asarray(self.vte[j]), ops.asarray(self.vcrit[j])
        vn, vo = new[:, cols], old[:, cols]
        big = (vn > vcrit) & (xp.abs(vn - vo) > 2 * vte)
        arg = 1 + (vn - vo) / vte
        up = xp.where(vo > 0, xp.where(arg > 0, vo + vte * xp.log(ops.floor(arg, 1e-300)), vcrit),
                      vte * xp.log(ops.floor(vn, 1e-300) / vte))
        floor = xp.where(vo > 0, -vo - 1, 2 * vo - 1)
        limited = xp.where(big, up, xp.where((vn < 0) & (vn < floor), floor, vn))
        out = ops.copy(new)
        out[:, cols] = limited
        return out

    def newton(self, y_lin: Array, m: np.ndarray, ops: Ops = NUMPY) -> tuple[Array, Array]:
        """``u`` and ``q(u)`` with ``u = y_lin + M q(u)`` for every row (input) of ``y_lin``: block Newton steps,
        the groups in order, swept until a whole sweep's first steps are all below the tolerance (the first sweep
        solves; the second confirms, with every other element's final output)."""
        xp = ops.xp
        k, size = y_lin.shape
        u, q = ops.zeros(k, size), ops.zeros(k, size)
        change, flat = None, np.zeros(0, dtype=np.int64)
        groups = blocks(m)
        for _sweep in range(MAX_SWEEPS):
            settled = True
            for group in groups:  # (blocks, block size): element indices
                flat = group.reshape(-1)
                nblk, b = group.shape
                others = np.ones(size, dtype=bool)
                others[flat] = False
                at, rest = ops.index(flat), ops.index(others)
                known = y_lin[:, at] + q[:, rest] @ ops.asarray(m[np.ix_(flat, others)].T)
                own = ops.asarray(m[np.ix_(flat, flat)].T)
                block = ops.asarray(m[group[:, :, None], group[:, None, :]])[None]  # (1, nblk, b, b)
                eye = ops.asarray(np.eye(b))
                uu = u[:, at]
                for step_number in range(MAX_ITERATIONS):
                    qq, dq = self.outputs(uu, flat, ops)
                    resid = uu - known - qq @ own
                    jac = eye - block * dq.reshape(k, nblk, 1, b)
                    step = ops.solve(jac, resid.reshape(k, nblk, b)).reshape(k, -1)
                    new = self.limit(uu - step, uu, flat, ops)
                    change = xp.abs(new - uu)
                    uu = new
                    small = bool((change <= STEP_TOLERANCE * (1.0 + xp.abs(uu))).all())
                    if step_number == 0 and not small:
                        settled = False
                    if small:
                        break
                else:
                    raise Stalled(self._worst(ops.numpy(change), flat))
                u[:, at] = uu
                q[:, at] = self.outputs(uu, flat, ops)[0]
            if settled:
                return u, q
        raise Stalled(self._worst(ops.numpy(change), flat))

    def _worst(self, change: np.ndarray, flat: np.ndarray) -> NonConvergence:
        sample, col = np.unravel_index(np.argmax(change), change.shape)
        return NonConvergence(int(sample), self.names[flat[col]], float(change.max()))


def _function(fn: str, x: Array, ops: Ops) -> tuple[Array, Array]:
    """A behavioural template's function and its derivative (``circuits.analog.netlist.BEHAVIOURS``)."""
    xp = ops.xp
    if fn == "tanh":
        t = xp.tanh(x)
        return t, 1.0 - t * t
    if fn == "sigmoid":
        s = 1.0 / (1.0 + xp.exp(-x))
        return s, s * (1.0 - s)
    if fn == "hardtanh":
        return ops.clip(x, -1.0, 1.0), ops.floats(xp.abs(x) < 1)
    return ops.floor(x, 0.0), ops.floats(x > 0)


def blocks(m: np.ndarray) -> list[np.ndarray]:
    """The nonlinear elements in groups to solve one after another: strongly connected blocks of ``M``'s
    significant entries, in dependency order, blocks of one size and level together."""
    from scipy.sparse.csgraph import connected_components

    size = len(m)
    scale = np.abs(m).max(axis=1, keepdims=True)
    coupled = np.abs(m) > COUPLING * np.where(scale > 0, scale, 1.0)
    np.fill_diagonal(coupled, True)
    count, label = connected_components(coupled, directed=True, connection="strong")
    # level of a block: 1 + the deepest level of the blocks it depends on (j → i where M[i, j] couples)
    depends: list[set[int]] = [set() for _ in range(count)]
    for i, j in zip(*np.nonzero(coupled), strict=True):
        if label[i] != label[j]:
            depends[label[i]].add(int(label[j]))
    level = [-1] * count
    for start in range(count):
        stack = [start]
        while stack:
            blk = stack[-1]
            pending = [d for d in depends[blk] if level[d] < 0]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            level[blk] = 1 + max((level[d] for d in depends[blk]), default=-1)
    sizes = np.bincount(label, minlength=count)
    groups: dict[tuple[int, int], list[int]] = {}
    for blk in range(count):
        groups.setdefault((level[blk], int(sizes[blk])), []).append(blk)
    order = np.argsort(label, kind="stable")
    members = np.split(order, np.cumsum(sizes)[:-1]) if size else []
    return [np.stack([members[blk] for blk in blks]) for _, blks in sorted(groups.items())]
