"""The fast simulator (:mod:`circuits.analog.fast`) with nonlinear crossbar devices and selectors.

The factorized linear system holds every device at its small-signal conductance ``G``; what a device carries
beyond ``G·V`` is a current injected at its terminals. A batch is solved by a fixed-point (chord) iteration on
those currents, each step one batch of solves with the one factorization (and, for the diodes and behavioural
sources, the block Newton of :meth:`~circuits.analog.fast.FastCircuit._newton` as without devices). Where the
devices' voltages move with their currents (a selector in series with a device: the node between them floats) the
chord iteration can stop contracting; an input whose batch does not converge within :data:`CHORD_STEPS` is solved
by Newton's method on the whole system instead (SPICE's companion models: each step a new factorization, junction
limiting on the diodes, steps on the devices held to two characteristic voltages).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from circuits.analog.fast import DENSE_BUDGET, DEVICE_TOLERANCE, FastCircuit, NewtonError
from circuits.analog.fast_newton import MAX_ITERATIONS, STEP_TOLERANCE, NonConvergence, Stalled

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix, csr_matrix

CHORD_STEPS = 60
"""Chord steps before a batch's inputs are solved by Newton's method one by one."""


def run_devices(fc: FastCircuit, probes: Sequence[str], rows: list[int], values: np.ndarray, base: np.ndarray,
                observe: csr_matrix, injections: csc_matrix, h_q: np.ndarray,
                progress: bool) -> dict[str, np.ndarray]:
    """:meth:`FastCircuit.run` for a circuit with nonlinear devices (the module docstring says how)."""
    import scipy.sparse as sp
    from tqdm.auto import tqdm

    dev = fc.circuit.devices
    nd, nl = len(dev), len(fc.elements)
    a, b = dev.nodes[:, 0], dev.nodes[:, 1]
    keep_a, keep_b = a >= 0, b >= 0
    p_dev = sp.csc_matrix((np.concatenate([-np.ones(keep_a.sum()), np.ones(keep_b.sum())]),
                           (np.concatenate([a[keep_a], b[keep_b]]),
                            np.concatenate([np.flatnonzero(keep_a), np.flatnonzero(keep_b)]))),
                          shape=(fc.size, nd))
    g0 = dev.current(np.zeros(nd))[1]
    k = values.shape[1]
    batch = max(1, min(2048, int(DENSE_BUDGET // max(fc.size, 1))))
    out = np.zeros((k, len(probes)))
    for start in tqdm(range(0, k, batch), desc="fast", unit="batch", disable=not progress, leave=False):
        stop = min(start + batch, k)
        rhs = np.repeat(base[:, None], stop - start, axis=1)
        rhs[rows] = values[:, start:stop]
        x, first = _chord(fc, rhs, p_dev, injections, observe, h_q, g0, start)
        if x is None:  # the chord iteration does not contract here: Newton's method, input by input, from the
            # solution with every device at its small-signal conductance (the diodes' already right)
            x = np.stack([_newton(fc, rhs[:, i], first[:, i], p_dev, injections, g0, start + i)
                          for i in range(stop - start)], axis=1)
        out[start:stop] = (observe @ x)[nl:].T
    return {p: out[:, i].copy() for i, p in enumerate(probes)}


def _device_volts(fc: FastCircuit, x: np.ndarray) -> np.ndarray:
    a, b = fc.circuit.devices.nodes[:, 0], fc.circuit.devices.nodes[:, 1]
    shape = (-1,) + (1,) * (x.ndim - 1)
    return np.where((a >= 0).reshape(shape), x[np.maximum(a, 0)], 0.0) - \
        np.where((b >= 0).reshape(shape), x[np.maximum(b, 0)], 0.0)


def _chord(fc: FastCircuit, rhs: np.ndarray, p_dev: csc_matrix, injections: csc_matrix, observe: csr_matrix,
           h_q: np.ndarray, g0: np.ndarray, start: int) -> tuple[np.ndarray | None, np.ndarray]:
    """The batch's solutions by the chord iteration (``None`` if it has not converged in :data:`CHORD_STEPS`),
    and its first iterate (the devices at their small-signal conductance)."""
    dev = fc.circuit.devices
    nl = len(fc.elements)
    extra = np.zeros((len(dev), rhs.shape[1]))  # each device's current beyond G·V
    first: np.ndarray | None = None
    for _ in range(CHORD_STEPS):
        x = fc.solve(rhs + p_dev @ extra)
        if nl:
            try:
                _, q = fc.nonlinear.newton((observe @ x)[:nl].T, h_q[:nl])
            except Stalled as e:
                where = NonConvergence(start + e.where.sample, e.where.element, e.where.residual)
                raise NewtonError(fc.title, where) from None
            x = x + fc.solve(injections @ q.T)
        first = x if first is None else first
        volts = _device_volts(fc, x)
        current = dev.current(volts.T)[0].T
        new = current - g0[:, None] * volts
        change = float(np.abs(new - extra).max())
        extra = new
        if not np.isfinite(change):
            break
        if change <= DEVICE_TOLERANCE * (float(np.abs(current).max()) + 1e-30):
            return x, first
    assert first is not None
    return None, first


def _newton(fc: FastCircuit, rhs: np.ndarray, x: np.ndarray, p_dev: csc_matrix, injections: csc_matrix,
            g0: np.ndarray, sample: int) -> np.ndarray:
    """One input by Newton's method on the whole system from ``x``: the devices, diodes and behavioural sources
    replaced by their companion models at the present iterate, refactorized at every step."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    dev = fc.circuit.devices
    nl = len(fc.elements)
    obs_r, obs_c, obs_v = fc._controls
    keep = obs_c >= 0
    observe_nl = sp.csr_matrix((obs_v[keep], (obs_r[keep], obs_c[keep])), shape=(nl, fc.size))
    span = -p_dev.T.tocsr()  # device voltages: V(a) − V(b)
    v0 = np.where(dev.sinh, 1.0 / np.where(dev.k > 0, dev.k, 1.0), np.sqrt(1.0 / np.where(dev.k > 0, dev.k, 1.0)))
    u_old: np.ndarray = observe_nl @ x
    which = np.arange(nl)
    for _ in range(MAX_ITERATIONS):
        u: np.ndarray = fc.nonlinear.limit((observe_nl @ x)[None], u_old[None], which)[0] if nl else np.zeros(0)
        q, dq = fc.nonlinear.outputs(u[None], which) if nl else (np.zeros((1, 0)), np.zeros((1, 0)))
        volts = span @ x
        current, slope = dev.current(volts)
        extra, dextra = current - g0 * volts, slope - g0
        jac = fc.matrix - injections @ sp.diags(dq[0]) @ observe_nl - p_dev @ sp.diags(dextra) @ span
        b = rhs + injections @ (q[0] - dq[0] * u) + p_dev @ (extra - dextra * volts)
        new = spla.splu(jac.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(b)
        moved = np.abs(span @ (new - x))
        worst = float((moved / v0).max()) if len(moved) else 0.0
        if worst > 2.0:  # hold every device's step to two characteristic voltages
            new = x + (new - x) * (2.0 / worst)
        step = np.abs(new - x)
        x, u_old = new, u
        if step.max() <= STEP_TOLERANCE * 1e-4 * (1.0 + np.abs(x).max()):
            return x
    i = int(np.argmax(np.abs(span @ step))) if len(dev) else 0
    raise NewtonError(fc.title, NonConvergence(sample, dev.names[i], float(step.max())))
