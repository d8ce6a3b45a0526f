import numpy as np
import pytest

from circuits.analog.crossbar import Crossbar, add_crossbar
from circuits.analog.netlist import Netlist
from circuits.analog.solver import NodalSolver
from ir import BackendError, SimulationError


def tile_netlist(n: int, m: int, seed: int = 0, **kw) -> tuple[Netlist, Crossbar, list[str]]:
    rng = np.random.default_rng(seed)
    tile = Crossbar(rng.uniform(1e-6, 1e-4, (n, m)), rng.uniform(1e-6, 1e-4, (n, m)), r_feedback=1e3, **kw)
    net = Netlist("tile")
    plus = [f"in{i}" for i in range(n)]
    minus = [f"inn{i}" for i in range(n)]
    for i in range(n):
        net.vsource(f"in{i}", plus[i], "0", 0.0)
        net.vcvs(f"inv{i}", minus[i], "0", plus[i], "0", -1.0)
    return net, tile, add_crossbar(net, "t0", tile, plus, minus)


@pytest.mark.parametrize("gain", [1e2, 1e6])
def test_solver_matches_the_finite_gain_tia_equation(gain):
    net, tile, outs = tile_netlist(6, 4, opamp_gain=gain)
    v = np.random.default_rng(1).uniform(-0.2, 0.2, (7, 6))
    sol = NodalSolver(net).solve({f"vin{i}": v[:, i] for i in range(6)})
    got = np.stack([sol[o] for o in outs], axis=1)
    np.testing.assert_allclose(got, tile.ideal_output(v), rtol=1e-12, atol=1e-15)


def test_wire_resistance_changes_the_output_modestly():
    v = np.full((1, 16), 0.2)
    net_ideal, tile, outs = tile_netlist(16, 16)
    net_wired, _, outs_w = tile_netlist(16, 16, r_wire=5.0)
    ideal = NodalSolver(net_ideal).solve({f"vin{i}": v[:, i] for i in range(16)})
    wired = NodalSolver(net_wired).solve({f"vin{i}": v[:, i] for i in range(16)})
    a = np.array([ideal[o][0] for o in outs])
    b = np.array([wired[o][0] for o in outs])
    deviation = np.abs(b - a) / np.abs(a).max()
    assert 1e-4 < deviation.max() < 0.2  # a real but modest IR drop at 5 Ω per segment


def test_floating_node_is_singular():
    net = Netlist("float")
    net.vsource("a", "a", "0", 1.0)
    net.resistor("x", "b", "c", 1.0)
    with pytest.raises(SimulationError, match=r"^netlist 'float' is singular: a node may float"):
        NodalSolver(net).solve()


def test_nonlinear_elements_refused():
    net = Netlist("d")
    net.model("dm", "d")
    net.diode("1", "a", "0", "dm")
    with pytest.raises(BackendError, match=r"^the nodal solver handles R, V and E elements, not d1 \(nonlinear\)$"):
        NodalSolver(net)


def test_unknown_source():
    net, _, _ = tile_netlist(2, 2)
    with pytest.raises(BackendError, match=r"^netlist has no voltage source 'vx'$"):
        NodalSolver(net).solve({"vx": np.zeros(1)})


def test_wired_tiles_connect_long_driver_names():
    """Near-zero wire and sense resistance must give the ideal crossbar: every node is connected, however
    long the drivers' and outputs' names (a byte-string array must never truncate one)."""
    rng = np.random.default_rng(5)
    ideal = Crossbar(rng.uniform(1e-6, 1e-4, (5, 3)), rng.uniform(1e-6, 1e-4, (5, 3)), r_feedback=1e4)
    tiny = Crossbar(ideal.g_pos, ideal.g_neg, r_feedback=1e4, r_wire=1e-9, r_sense=1e-9,
                    tile_rows=2, tile_cols=2)
    net = Netlist("long")
    plus = [f"a_rather_long_driver_name_{i}" for i in range(5)]
    minus = [f"an_even_longer_inverted_driver_name_{i}" for i in range(5)]
    v = rng.uniform(-0.2, 0.2, 5)
    for i in range(5):
        net.vsource(f"in{i}", plus[i], "0", float(v[i]))
        net.vsource(f"inn{i}", minus[i], "0", float(-v[i]))
    outs = add_crossbar(net, "x", tiny, plus, minus)
    got = NodalSolver(net).solve()
    np.testing.assert_allclose([got[o][0] for o in outs], ideal.ideal_output(v[None, :])[0], rtol=1e-6)
