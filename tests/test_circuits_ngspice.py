"""ngspice (batch subprocess) against the exact nodal solution of the same netlist."""

import numpy as np
import pytest

from circuits.analog.netlist import Netlist
from circuits.analog.ngspice import run_batch
from circuits.analog.solver import NodalSolver
from ir import SimulationError, ToolNotFoundError
from tests.test_circuits_solver import tile_netlist


def _compare(n, m, k, **kw):
    net, tile, outs = tile_netlist(n, m, **kw)
    v = np.random.default_rng(2).uniform(-0.2, 0.2, (k, n))
    src = {f"vin{i}": v[:, i] for i in range(n)}
    ref = NodalSolver(net).solve(src)
    ng = run_batch(net, outs, src)
    ref_out = np.stack([ref[o] for o in outs], 1)
    ng_out = np.stack([ng[o] for o in outs], 1)
    return np.abs(ng_out - ref_out).max() / np.abs(ref_out).max()


def test_ngspice_matches_reference_on_ideal_tile():
    assert _compare(8, 5, 4) < 1e-9


def test_ngspice_matches_reference_with_wire_source_and_sense_resistance():
    assert _compare(8, 8, 3, r_wire=2.0, r_source=10.0, r_sense=5.0) < 1e-9


@pytest.mark.slow
def test_ngspice_matches_exact_nodal_reference_on_64x64_tile_with_1_ohm_wires():
    assert _compare(64, 64, 1, r_wire=1.0) < 1e-6


def test_ngspice_missing_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolNotFoundError, match=r"^ngspice is not installed: apt-get install ngspice$"):
        run_batch(Netlist("t"), [])


def test_ngspice_failure_is_reported():
    net = Netlist("broken")
    net.vsource("a", "a", "0", 1.0)
    net.vsource("b", "a", "0", 2.0)  # two sources in parallel: singular
    with pytest.raises(SimulationError, match=r"^ngspice failed on 'broken' \(exit \d+, 0 of 1 operating points\)"):
        run_batch(net, ["a"])
