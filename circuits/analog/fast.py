"""neurocc's own DC circuit simulator: the netlist ngspice is given, solved exactly and for whole batches at once.

It reads the checked text of a netlist (:mod:`circuits.analog.parse`), so it solves exactly what ngspice solves,
or the in-memory :class:`~circuits.analog.netlist.Netlist` that text is written from
(:mod:`circuits.analog.parse_model`: the same arrays, without writing and reading the text), and it uses ngspice's
device equations: a diode is ``IS·(e^(V/nV_T) − 1)`` forward and
``−IS·(1 + (3nV_T/(eV))³)`` below ``−3nV_T`` (SPICE3's reverse form), with ``GMIN`` = 1e-12 S across the
junction, ``V_T`` = kT/q at 27 °C; a behavioural source is its template (tanh, sigmoid, hardtanh, relu).

How it is fast (modified nodal analysis, ``A x = b``):

1. The linear part — resistors, voltage sources, VCVS, each diode's ``GMIN``, each behavioural source as a
   voltage source of unknown value — is assembled with array operations and LU-factorized once (SuperLU), when
   first needed: a big linear circuit asked for a few inputs is solved by GMRES instead, with its grounded
   sources substituted out (:mod:`circuits.analog.fast_reduce`) and on the two sides of its wires' chains that
   only the devices join (:mod:`circuits.analog.fast_iterative`), which is cheaper than the factorization, and
   falls back to it.
2. Everything a batch needs is a few columns of ``A⁻¹``: the observed voltages (probes and the controls of the
   nonlinear elements) are ``y = y₀ + H_s s + H_q q`` for the swept sources ``s`` and the nonlinear elements'
   outputs ``q`` (diode currents, behavioural voltages). The response matrices come from one solve per swept
   source and per nonlinear element (or per observed voltage, by transposed solves, whichever is fewer), or
   from one solve per input when the batch is smaller than that; a batch is then matrix products. Two hundred
   solves or more of a big circuit go through the factors cut into panels (:mod:`circuits.analog.fast_panels`).
3. The nonlinear elements satisfy ``u = y_lin + M q(u)`` (``u`` their controls, ``M`` = the rows of ``H_q``
   they observe). ``M`` couples them in small blocks (a rectifier's two diodes) that feed each other one way (a
   layer's activations feed the next through ideal drivers): Newton's method (SPICE's junction limiting) runs
   on each block, all blocks of a level and every input of the batch at once, the levels in order. The full
   system's residual is checked at the end, so a dropped tiny coupling costs another sweep, never accuracy
   (:mod:`circuits.analog.fast_newton`; on a GPU when the compiler hands down torch's arithmetic).
4. Nonlinear crossbar devices (behavioural currents ``i = g·sinh(k·V)`` or ``g·V·(1 + k·V²)`` between their own
   terminals, :data:`circuits.analog.netlist.DEVICES`) are far too many for step 3: the linear system holds them
   at their small-signal conductance and what they carry beyond it is injected at their terminals, found by a
   fixed-point (chord) iteration whose every step is one batch of solves with the same factorization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from circuits.analog import fast_iterative as iterative
from circuits.analog.cards import CheckedNetlist
from circuits.analog.fast_iterative import Split
from circuits.analog.fast_newton import NUMPY, Elements, NonConvergence, Ops, Stalled
from circuits.analog.fast_panels import Panels, cuts
from circuits.analog.fast_reduce import Reduction, Sources
from circuits.analog.netlist import Netlist
from circuits.analog.parse import parse
from circuits.analog.parse_model import parse_model
from errors import SimulationError

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix, csr_matrix, spmatrix

GMIN = 1e-12
"""S across every junction (ngspice's default ``gmin``)."""
BOLTZMANN, CHARGE, KELVIN = 1.38064852e-23, 1.6021766208e-19, 300.15  # ngspice's constants and 27 °C
THERMAL_VOLTAGE = BOLTZMANN * KELVIN / CHARGE
PANEL_SOLVES = 200
"""Solves of one response from which they go through the factors cut into panels (:mod:`circuits.analog.fast_panels`;
cutting them costs about what 150 of SuperLU's solves do), in circuits of :data:`PANEL_SIZE` unknowns or more."""
PANEL_SIZE = 50000
CHUNK = 64
"""Right-hand sides per solve call (bounds the memory of a response to ``CHUNK`` dense vectors)."""
BATCH = 2048
"""Inputs solved at once (bounds the memory of Newton's arrays)."""
DEVICE_TOLERANCE = 1e-13
"""The devices' iteration has converged when no device current changes by more than this fraction of the
largest."""
DENSE_BUDGET = 4e7
"""Doubles of full solution vectors held at once with nonlinear devices (a batch is this over the unknowns)."""


class FastCircuit:
    """A netlist, parsed and checked for floating nodes and loops of sources (factorized when first needed);
    :meth:`run` solves batches of inputs."""

    def __init__(self, netlist: CheckedNetlist | Netlist) -> None:
        """``netlist``: its checked text, or the in-memory model it is written from (read without the text,
        :mod:`circuits.analog.parse_model`; the arrays are the same)."""
        c = self.circuit = parse(netlist) if isinstance(netlist, CheckedNetlist) else parse_model(netlist)
        self.title = c.title
        self.n = len(c.nodes)
        rows = [self.n + k for k in range(len(c.v) + len(c.e) + len(c.b))]
        self.v_rows = {name: rows[k] for k, name in enumerate(c.v.names)}
        self.b_rows = np.array(rows[len(c.v) + len(c.e):], dtype=np.int64)
        self.size = self.n + len(rows)
        self._check_floating()
        if len(c.r) and not np.all(c.r.values != 0):
            bad = int(np.flatnonzero(c.r.values == 0)[0])
            raise SimulationError(f"resistor {c.r.names[bad]} of circuit {self.title!r} has 0 ohms")
        self.rhs0 = np.zeros(self.size)  # the netlist's own source values
        self.rhs0[self.n: self.n + len(c.v)] = c.v.values
        self._matrix: csc_matrix | None = None
        self._lu: _Factors | None = None
        self.accelerator = NUMPY.name  # where the last batch ran
        # the iterative path: not tried yet (None), failed (False)
        self._chains: tuple[Reduction, Split] | Literal[False] | None = None
        if self.size < iterative.MIN_SIZE:
            self._factorized()  # a small circuit is factorized at once (and a singular one refused at once)
        # The nonlinear elements: diodes, then behavioural sources. Each observes a control (a row of ``obs``)
        # and injects its output (a column of ``inj``).
        d, b = c.d, c.b
        self.elements = [*d.names, *b.names]
        nd, nb = len(d), len(b)
        obs_r = np.concatenate([np.arange(nd), np.arange(nd), nd + np.arange(nb)])
        obs_c = np.concatenate([d.nodes[:, 0], d.nodes[:, 1], b.ctrl])
        obs_v = np.concatenate([np.ones(nd), -np.ones(nd), np.ones(nb)])
        inj_r = np.concatenate([d.nodes[:, 0], d.nodes[:, 1], self.b_rows])
        inj_v = np.concatenate([-np.ones(nd), np.ones(nd), np.ones(nb)])
        self._controls = (obs_r, obs_c, obs_v)
        keep = inj_r >= 0  # a terminal on ground injects nothing
        self._injections = (inj_r[keep], obs_r[keep], inj_v[keep])
        self.nonlinear = Elements(self.elements, nd, THERMAL_VOLTAGE * c.emission, d.values, b.fn, b.g, b.a)

    # -- assembly -------------------------------------------------------------------------------------------------

    def _check_floating(self) -> None:
        """Every node must reach ground through elements that carry current (controls draw none)."""
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        c = self.circuit
        ends = [c.r.nodes, c.d.nodes, c.v.nodes, c.e.nodes[:, :2], c.b.nodes, c.devices.nodes]
        pairs = np.concatenate([x.reshape(-1, 2) for x in ends]) if self.n else np.zeros((0, 2), np.int64)
        pairs = np.where(pairs < 0, self.n, pairs)  # ground is node n here
        graph = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(self.n + 1, self.n + 1))
        _, labels = connected_components(graph, directed=False)
        floating = np.flatnonzero(labels[: self.n] != labels[self.n])
        if len(floating):
            raise SimulationError(f"node {c.nodes[floating[0]]!r} of circuit {self.title!r} floats: no path of "
                                  f"elements to ground ({len(floating)} such node{'s' if len(floating) > 1 else ''})")
        self._check_source_loops()

    def _check_source_loops(self) -> None:
        """Voltage sources, amplifier outputs and behavioural sources that close a loop fix one voltage twice (the
        matrix is singular): name them and the node where the loop closes."""
        c = self.circuit
        parent = list(range(self.n + 1))  # union-find over nodes; ground is n

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        named = [*c.v.names, *c.e.names, *c.b.names]
        ends = np.concatenate([c.v.nodes, c.e.nodes[:, :2], c.b.nodes]).reshape(-1, 2)
        for name, (p, m) in zip(named, np.where(ends < 0, self.n, ends).tolist(), strict=True):
            a, b = root(p), root(m)
            if a == b:
                node = "0" if m == self.n else c.nodes[m]
                raise SimulationError(f"circuit {self.title!r} is singular: {name} closes a loop of voltage sources "
                                      f"at node {node!r} (its voltage is fixed by the others already)")
            parent[a] = b

    @property
    def matrix(self) -> csc_matrix:
        """``A`` (CSC), assembled with array operations when first needed (duplicate entries add up)."""
        if self._matrix is None:
            import scipy.sparse as sp

            c = self.circuit
            rows: list[np.ndarray] = []
            cols: list[np.ndarray] = []
            vals: list[np.ndarray] = []

            def put(r: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
                keep = (r >= 0) & (k >= 0)
                rows.append(r[keep].astype(np.int32))
                cols.append(k[keep].astype(np.int32))
                vals.append(np.broadcast_to(v, r.shape)[keep])

            small_signal = c.devices.current(np.zeros(len(c.devices)))[1]  # nonlinear devices at 0 V: G
            for nodes, g in ((c.r.nodes, 1.0 / c.r.values), (c.d.nodes, np.full(len(c.d), GMIN)),
                             (c.devices.nodes, small_signal)):
                a, b = nodes[:, 0], nodes[:, 1]
                for r, k, sign in ((a, a, 1.0), (b, b, 1.0), (a, b, -1.0), (b, a, -1.0)):
                    put(r, k, sign * g)
            start = self.n
            for part in (c.v.nodes, c.e.nodes[:, :2], c.b.nodes):
                branch = start + np.arange(len(part))
                p, m = part[:, 0], part[:, 1]
                for r, k, sign in ((p, branch, 1.0), (m, branch, -1.0), (branch, p, 1.0), (branch, m, -1.0)):
                    put(r, k, np.full(len(part), sign))
                start += len(part)
            e_rows = self.n + len(c.v) + np.arange(len(c.e))
            put(e_rows, c.e.nodes[:, 2], -c.e.values)
            put(e_rows, c.e.nodes[:, 3], c.e.values)
            self._matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                         shape=(self.size, self.size))
        return self._matrix

    # -- responses ------------------------------------------------------------------------------------------------

    @property
    def lu(self) -> object:
        """SuperLU's factorization of ``A`` (made on first use)."""
        return self._factorized().lu

    def _factorized(self) -> _Factors:
        if self._lu is None:
            import scipy.sparse.linalg as spla  # here: scipy costs half a second to import

            try:
                self._lu = _Factors(spla.splu(self.matrix, permc_spec="MMD_AT_PLUS_A"))
            except RuntimeError as e:
                raise SimulationError(f"circuit {self.title!r} is singular ({e}): a loop of voltage sources, or a "
                                      "source or amplifier shorted") from e
        return self._lu

    def solve(self, rhs: np.ndarray, transposed: bool = False) -> np.ndarray:
        """``A⁻¹ rhs`` (or ``A⁻ᵀ rhs``) for a vector or a matrix of right-hand sides."""
        return self._factorized().solve(rhs, transposed)

    def _iterative(self, columns: np.ndarray) -> np.ndarray | None:
        """``A⁻¹ columns`` by :mod:`circuits.analog.fast_iterative`, for a big linear circuit not factorized yet
        (the caller asks only for a few columns); ``None`` where that does not apply or does not converge (then
        ``A`` is factorized)."""
        c = self.circuit
        if (self._lu is not None or self._chains is False or self.size < iterative.MIN_SIZE or self.elements
                or len(c.devices)):
            return None
        if self._chains is None:
            self._chains = self._split()
        if self._chains is False:
            return None
        assert isinstance(self._chains, tuple)
        reduced, split = self._chains
        x = split.solve(reduced.rhs(columns))
        if x is None:
            self._chains = False
            return None
        return reduced.expand(x, columns)

    def _split(self) -> tuple[Reduction, Split] | Literal[False]:
        """The circuit without the nodes its grounded sources fix (:mod:`circuits.analog.fast_reduce`), split in
        the two sides of its chains (:mod:`circuits.analog.fast_iterative`), or ``False`` where it does not split."""
        c = self.circuit
        conductance = 1.0 / c.r.values
        weak = iterative.weak_resistors(c.r.nodes, conductance, self.n)
        if not weak.any():
            return False
        reduced = Reduction(self.size, c.r.nodes, conductance, self._sources())
        sides = iterative.two_sides(reduced.size, reduced.couplings, weak)
        if sides is None:
            return False
        try:
            return reduced, iterative.Split(reduced.couplings, reduced.diagonal, sides)
        except RuntimeError:  # a side alone is singular: factorize A
            return False

    def _sources(self) -> Sources:
        """The voltage sources and VCVS, for :class:`~circuits.analog.fast_reduce.Reduction`."""
        c = self.circuit
        none = np.full(len(c.v), -1)
        return Sources(np.concatenate([c.v.nodes[:, 0], c.e.nodes[:, 0]]),
                       np.concatenate([c.v.nodes[:, 1], c.e.nodes[:, 1]]),
                       np.concatenate([none, c.e.nodes[:, 2]]), np.concatenate([none, c.e.nodes[:, 3]]),
                       np.concatenate([np.zeros(len(c.v)), c.e.values]), self.n + np.arange(len(c.v) + len(c.e)))

    def _observe(self, probes: Sequence[str]) -> csr_matrix:
        """The observation matrix: the nonlinear controls, then the probes' node voltages."""
        import scipy.sparse as sp

        obs_r, obs_c, obs_v = self._controls
        m = len(self.elements)
        idx = self.circuit.indices(probes)
        r = np.concatenate([obs_r, m + np.arange(len(idx))])
        k = np.concatenate([obs_c, idx])
        v = np.concatenate([obs_v, np.ones(len(idx))])
        keep = k >= 0  # ground: a row of zeros
        return sp.csr_matrix((v[keep], (r[keep], k[keep])), shape=(m + len(idx), self.size))

    def _response(self, obs: csr_matrix, columns: np.ndarray | spmatrix) -> np.ndarray:
        """``obs · A⁻¹ · columns`` (dense; ``columns`` dense or sparse), by right or transposed solves, whichever
        are fewer."""
        import scipy.sparse as sp

        few = None
        if columns.shape[1] <= iterative.MAX_COLUMNS:
            few = self._iterative(columns if isinstance(columns, np.ndarray) else sp.csc_matrix(columns).toarray())
        if few is not None:
            out = obs @ few
        else:
            cols = sp.csc_matrix(columns)
            out = np.zeros((obs.shape[0], cols.shape[1]))
            # many solves of a big circuit pay for cutting the factors into panels
            many = min(cols.shape[1], obs.shape[0]) >= PANEL_SOLVES and self.size >= PANEL_SIZE
            factors = self._factorized()
            if cols.shape[1] <= obs.shape[0]:
                for s in range(0, cols.shape[1], CHUNK):
                    x = factors.solve(cols[:, s: s + CHUNK].toarray(), panels=many)
                    out[:, s: s + CHUNK] = obs @ x
            else:
                for s in range(0, obs.shape[0], CHUNK):
                    t = factors.solve(obs[s: s + CHUNK].T.toarray(), transposed=True, panels=many)
                    out[s: s + CHUNK] = (cols.T @ t).T
        if not np.all(np.isfinite(out)):
            raise SimulationError(f"circuit {self.title!r} is singular: its solution is not finite")
        return out

    # -- batches --------------------------------------------------------------------------------------------------

    def run(self, probes: Sequence[str], sources: Mapping[str, np.ndarray] | None = None,
            progress: bool = False, ops: Ops = NUMPY) -> dict[str, np.ndarray]:
        """Node voltages at ``probes`` for each column of ``sources`` (``{vsource name: values (k,)}``; the others
        keep their netlist values), as ``{probe: array (k,)}``: the interface of the ngspice runners. Inputs go
        through in batches of :data:`BATCH` (a progress bar over them with ``progress``); a batch's products and
        Newton's method run on ``ops`` (numpy's; :func:`compiler.accelerate.batch_ops` gives a GPU's)."""
        import scipy.sparse as sp
        from tqdm.auto import tqdm

        sources = dict(sources or {})
        k = len(next(iter(sources.values()))) if sources else 1
        rows = []
        for name in sources:
            row = self.v_rows.get(name.lower())
            if row is None:
                raise SimulationError(f"circuit {self.title!r} has no voltage source {name!r}")
            rows.append(row)
        values = np.stack([np.asarray(v, dtype=np.float64).reshape(k) for v in sources.values()]) if rows else \
            np.zeros((0, k))
        base = self.rhs0.copy()
        base[rows] = 0.0
        observe = self._observe(probes)
        inj_r, inj_c, inj_v = self._injections
        nl = len(self.elements)
        injections = sp.csc_matrix((inj_v, (inj_r, inj_c)), shape=(self.size, nl))
        if k <= len(rows):  # fewer inputs than swept sources: one solve per input
            rhs = np.repeat(base[:, None], k, axis=1)
            rhs[rows] = values
            resp = self._response(observe, sp.hstack([sp.csc_matrix(rhs), injections]) if nl else rhs)
            offset, h_s, h_q = resp[:, :k].T, None, resp[:, k:]
        else:  # the response to each swept source, then matrix products
            swept = sp.csc_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(self.size, len(rows)))
            resp = self._response(observe, sp.hstack([sp.csc_matrix(base[:, None]), swept, injections]))
            offset, h_s, h_q = resp[:, 0][None, :], resp[:, 1: 1 + len(rows)], resp[:, 1 + len(rows):]
        out = np.zeros((k, len(probes)))
        if len(self.circuit.devices):  # (their chord iteration is sparse solves: numpy's, on the CPU)
            from circuits.analog.fast_devices import run_devices

            self.accelerator = NUMPY.name
            return run_devices(self, probes, rows, values, base, observe, injections, h_q, progress)
        self.accelerator = ops.name
        base_out = ops.asarray(offset)
        swept_out = None if h_s is None else ops.asarray(h_s.T)
        injected_out = ops.asarray(h_q.T)
        for start in tqdm(range(0, k, BATCH), desc="fast", unit="batch", disable=not progress, leave=False):
            stop = min(start + BATCH, k)
            linear = base_out[start:stop] if swept_out is None else \
                base_out + ops.asarray(values[:, start:stop].T) @ swept_out
            if nl:
                try:
                    _, q = self.nonlinear.newton(linear[:, :nl], h_q[:nl], ops)
                except Stalled as e:
                    where = NonConvergence(start + e.where.sample, e.where.element, e.where.residual)
                    raise NewtonError(self.title, where) from None
                linear = linear + q @ injected_out
            out[start:stop] = ops.numpy(linear[:, nl:])
        return {p: out[:, i].copy() for i, p in enumerate(probes)}


class _Factors:
    """SuperLU's factors ``Pr A Pc = L U``. Right solves go through scipy's sparse triangular solves, the
    right-hand sides split between two threads (measured here: 1.8× SuperLU's own solve for 64 columns of a
    128×128 tile, 1.15× at 256×256, where both are bound by reading the factors); transposed solves are
    SuperLU's, which is the faster of the two for them, and so are solves of fewer than eight columns. With
    ``panels`` (many solves to come) both go through the factors cut into panels (:mod:`circuits.analog.fast_panels`:
    dense products where the factors are dense), one pair for right and one for transposed solves, made on the
    first such solve."""

    def __init__(self, lu: object) -> None:
        self.lu = lu
        self._triangles: tuple[csr_matrix, csr_matrix] | None = None  # L and U as CSR, made on the first right solve
        self.perm_r, self.perm_c = lu.perm_r, lu.perm_c  # type: ignore[attr-defined]
        self.inv_r, self.inv_c = np.argsort(self.perm_r), np.argsort(self.perm_c)
        self._panels: dict[bool, tuple[Panels, Panels]] = {}

    def _columns(self, rhs: np.ndarray) -> np.ndarray:
        """``x = Pc U⁻¹ L⁻¹ Pr b``."""
        from scipy.sparse.linalg import spsolve_triangular

        assert self._triangles is not None
        lower, upper = self._triangles
        y = spsolve_triangular(lower, rhs[self.inv_r], lower=True, unit_diagonal=True)
        return spsolve_triangular(upper, y, lower=False)[self.perm_c]

    def _pair(self, transposed: bool) -> tuple[Panels, Panels]:
        """The panels of ``L`` and ``U`` (right solves), or of ``Uᵀ`` and ``Lᵀ`` (transposed)."""
        if transposed not in self._panels:
            lower, upper = self.lu.L.tocsc(), self.lu.U.tocsc()  # type: ignore[attr-defined]
            panels, split = cuts(lower)
            self._panels[transposed] = (
                (Panels(upper.T, True, False, panels, split), Panels(lower.T, False, True, panels, split))
                if transposed else
                (Panels(lower, True, True, panels, split), Panels(upper, False, False, panels, split)))
        return self._panels[transposed]

    def solve(self, rhs: np.ndarray, transposed: bool = False, panels: bool = False) -> np.ndarray:
        rhs = np.asarray(rhs, dtype=np.float64)
        if panels and rhs.ndim == 2:
            first, second = self._pair(transposed)
            if transposed:  # Aᵀ = Pc Uᵀ Lᵀ Pr
                return second.solve(first.solve(rhs[self.inv_c]))[self.perm_r]
            return second.solve(first.solve(rhs[self.inv_r]))[self.perm_c]
        if transposed or rhs.ndim == 1 or rhs.shape[1] < 8:  # (a few columns do not pay for the CSR triangles)
            return self.lu.solve(rhs, trans="T" if transposed else "N")  # type: ignore[attr-defined]
        if self._triangles is None:
            self._triangles = (self.lu.L.tocsr(), self.lu.U.tocsr())  # type: ignore[attr-defined]
        from concurrent.futures import ThreadPoolExecutor

        half = rhs.shape[1] // 2
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(self._columns, (rhs[:, :half], rhs[:, half:])))
        return np.concatenate(parts, axis=1)


class NewtonError(SimulationError):
    """Newton's method did not converge; ``where`` says for which input and element."""

    def __init__(self, title: str, where: NonConvergence) -> None:
        super().__init__(f"the fast simulator's Newton iteration did not converge on circuit {title!r} for input "
                         f"{where.sample} at {where.element} (last residual: a Newton step of {where.residual:.3e} V)")
        self.where = where


def run_fast(netlist: CheckedNetlist, probes: Sequence[str],
             sources: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """One batch through :class:`FastCircuit` (the interface of the ngspice runners)."""
    return FastCircuit(netlist).run(probes, sources)
