"""The fast simulator against ngspice (the same netlist text), against the nodal solver (hypothesis), and its
errors."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import circuits.analog.fast as fast
import circuits.analog.fast_iterative as fast_iterative
import circuits.analog.fast_newton as fast_newton
import circuits.analog.fast_panels as fast_panels
from backends.spice import emit
from backends.spice.emit import build as build_netlist
from backends.spice.run import SpiceFolder, simulate
from circuits.analog.cards import check_netlist
from circuits.analog.crossbar import Crossbar, add_crossbar
from circuits.analog.fast import GMIN, THERMAL_VOLTAGE, FastCircuit
from circuits.analog.netlist import Netlist
from circuits.analog.ngspice import checked
from circuits.analog.ngspice_shared import run_batch_shared
from circuits.analog.node_table import NodeTable
from circuits.analog.parse import parse
from circuits.analog.parse_model import parse_model
from circuits.analog.solver import NodalSolver
from compiler.accelerate import TorchOps, batch_ops
from compiler.passes import PassManager
from compiler.pipelines import spice_pipeline
from ir import SimulationError, interp
from tests.conftest import make_mlp_graph


def tile(n: int, m: int, seed: int = 0, variation: float = 0.0, **kw) -> tuple[Netlist, list[str]]:
    """A crossbar tile with random conductances (lognormal ``variation`` on top) behind ideal drivers."""
    rng = np.random.default_rng(seed)
    g_pos, g_neg = (rng.uniform(1e-6, 1e-4, (n, m)) * np.exp(variation * rng.standard_normal((n, m)))
                    for _ in range(2))
    net = Netlist("tile")
    plus, minus = [f"in{i}" for i in range(n)], [f"inn{i}" for i in range(n)]
    for i in range(n):
        net.vsource(f"in{i}", plus[i], "0", 0.0)
        net.vcvs(f"inv{i}", minus[i], "0", plus[i], "0", -1.0)
    return net, add_crossbar(net, "t0", Crossbar(g_pos, g_neg, r_feedback=1e3, **kw), plus, minus)


def inputs(n: int, k: int, seed: int = 1) -> dict[str, np.ndarray]:
    v = np.random.default_rng(seed).uniform(-0.2, 0.2, (k, n))
    return {f"vin{i}": v[:, i] for i in range(n)}


def relative(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    x, y = (np.stack([d[p] for p in sorted(a)]) for d in (a, b))
    return float(np.abs(x - y).max() / np.abs(y).max())


@pytest.mark.parametrize("n,wires", [(4, {}), (4, {"r_wire": 2.0}), (8, {"r_wire": 1.0, "r_source": 10.0}),
                                     (16, {"r_wire": 1.0, "r_sense": 10.0}),
                                     (32, {"r_wire": 0.5, "r_source": 5.0, "r_sense": 5.0, "tile_rows": 16}),
                                     (40, {"r_wire": 1.0})])  # (big enough for the iterative path)
def test_linear_tiles_agree_with_ngspice(n, wires):
    net, outs = tile(n, n, seed=n, variation=0.3, **wires)
    text = checked(net)
    src = inputs(n, 3)
    assert relative(FastCircuit(text).run(outs, src), run_batch_shared(text, outs, src)) <= 1e-9


@pytest.mark.parametrize("device,n,wires", [("sinh", 4, {}), ("cubic", 6, {"r_wire": 1.0}),
                                            ("sinh", 12, {"r_wire": 2.0, "r_sense": 10.0, "tile_rows": 8})])
def test_nonlinear_device_tiles_agree_with_ngspice_and_the_nodal_solver(device, n, wires):
    net, outs = tile(n, n, seed=n, variation=0.2, device=device, device_v0=0.2, **wires)
    text = checked(net)
    assert text.text.count(" i = ") == 2 * n * n  # every device is a behavioural current
    src = inputs(n, 3)
    got = FastCircuit(text).run(outs, src)
    assert relative(got, run_batch_shared(text, outs, src)) <= 1e-9
    assert relative(got, NodalSolver(net).solve(src)) <= 1e-9
    linear, outs_linear = tile(n, n, seed=n, variation=0.2, **wires)
    assert relative(got, NodalSolver(linear).solve(src)) >= 1e-3  # the nonlinearity is real


@pytest.mark.parametrize("selector_g,device", [(1e-3, "linear"), (1e-5, "linear"), (2e-5, "sinh")])
def test_selectors_agree_with_ngspice_and_the_nodal_solver(selector_g, device):
    """A sinh selector in series with every device (1S1R); strong ones make the chord iteration stall, and the
    inputs go to Newton's method one by one."""
    net, outs = tile(8, 8, seed=1, r_wire=1.0, selector_g=selector_g, selector_v0=0.05, device=device)
    text = checked(net)
    assert text.text.count("_sel") == 2 * 64
    src = inputs(8, 3)
    got = FastCircuit(text).run(outs, src)
    assert relative(got, run_batch_shared(text, outs, src)) <= 1e-9
    assert relative(got, {o: v for o, v in NodalSolver(net).solve(src).items() if o in outs}) <= 1e-9


def test_a_device_card_must_read_its_own_terminals():
    text = "* d\nv1 a 0 dc 1\nr1 a c 1\nb1 c 0 i = 1e-4*sinh((v(a)-v(0))*4)\n.end\n"
    with pytest.raises(SimulationError, match=r"^netlist 'd': device b1 must carry the current of its own terminals "
                                              r"c, 0, not of v\(a\)-v\(0\)$"):
        FastCircuit(check_netlist(text, "x"))


@pytest.mark.slow
def test_a_64x64_tile_with_1_ohm_wires_agrees_with_ngspice():
    net, outs = tile(64, 64, variation=0.1, r_wire=1.0)
    text = checked(net)
    src = inputs(64, 1)
    assert relative(FastCircuit(text).run(outs, src), run_batch_shared(text, outs, src)) <= 1e-9


def test_a_few_inputs_of_a_big_linear_tile_are_solved_without_factorizing_it(monkeypatch):
    net, outs = tile(40, 40, seed=2, variation=0.3, r_wire=1.0)
    src = inputs(40, 2)
    direct = FastCircuit(net)
    direct.lu  # noqa: B018 (factorized first: the direct path)
    circuit = FastCircuit(net)
    assert circuit.size >= fast_iterative.MIN_SIZE
    assert relative(circuit.run(outs, src), direct.run(outs, src)) <= 1e-11
    assert circuit._lu is None  # GMRES on the wires' chains did it
    monkeypatch.setattr(fast_iterative, "MAX_STEPS", 2)  # too few to converge: the factorization takes over
    stalled = FastCircuit(net)
    assert relative(stalled.run(outs, src), direct.run(outs, src)) <= 1e-12
    assert stalled._lu is not None


def test_chains_joined_by_weak_links_across_the_same_side_are_factorized():
    net, outs = tile(40, 40, seed=2, variation=0.3, r_wire=1.0)
    net.resistor("odd", "t0_t0_rp0_5", "t0_t0_rp1_5", 1e4)  # two row lines: the chains are no longer two-sided
    src = inputs(40, 2)
    direct = FastCircuit(net)
    direct.lu  # noqa: B018
    circuit = FastCircuit(net)
    assert relative(circuit.run(outs, src), direct.run(outs, src)) <= 1e-12
    assert circuit._chains is False and circuit._lu is not None


def test_a_linear_network_splits_in_two_sides_across_its_layers():
    net = network_netlist([64, 48, 10], ["identity"], r_wire=1.0, tile=64)  # rows | columns and next rows | ...
    circuit, direct = FastCircuit(net), FastCircuit(net)
    direct.lu  # noqa: B018
    sources = [name for name in circuit.v_rows if name.startswith("vdac1_")]
    src = {name: np.random.default_rng(i).uniform(0, 0.5, 2) for i, name in enumerate(sources)}
    probes = [f"xb2_out{i}" for i in range(10)]
    assert relative(circuit.run(probes, src), direct.run(probes, src)) <= 1e-12
    assert isinstance(circuit._chains, tuple) and isinstance(circuit._chains[1], fast_iterative.Split)
    assert circuit._lu is None


def entries(pairs, weak_pairs):
    """The entries of a circuit of 1 S resistors ``pairs`` and 1 mS ones ``weak_pairs`` (resistor tags in order)."""
    ends = np.array(pairs + weak_pairs)
    g = np.array([1.0] * len(pairs) + [1e-3] * len(weak_pairs))
    a, b = ends[:, 0], ends[:, 1]
    tag = np.arange(len(ends))
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    tags = np.concatenate([-np.ones(2 * len(ends), dtype=np.int64), tag, tag])
    values = np.concatenate([g, g, -g, -g])
    weak = fast_iterative.weak_resistors(ends, g, int(ends.max()) + 1)
    return fast_iterative.Entries(rows, cols, values, tags), ends, weak


def test_two_sides_alternate_along_the_weak_links():
    # chains {0,1}, {2,3}, {4,5}, {6,7} and {8,9}: weak links 1-2, 3-4 and 0-3 (a second link between the first
    # two), and apart from them 6-9; chain {10,11} has none
    e, ends, weak = entries([(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)], [(1, 2), (3, 4), (0, 3), (6, 9)])
    assert weak.tolist() == [False] * 6 + [True] * 4
    sides = fast_iterative.two_sides(12, e, weak)
    assert sides is not None and sides.side.tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0]
    odd, ends, weak = entries([(0, 1), (2, 3), (4, 5)], [(1, 2), (3, 4), (5, 0)])  # three chains in a ring
    assert fast_iterative.two_sides(6, odd, weak) is None
    inside, ends, weak = entries([(0, 1), (1, 2)], [(0, 2)])  # a weak link within one chain: one side only
    assert fast_iterative.two_sides(3, inside, weak) is None


def test_weak_resistors_are_the_ones_much_weaker_than_both_neighbours():
    ends = np.array([[0, 1], [1, 2], [0, 2], [2, -1], [3, 0]])
    weak = fast_iterative.weak_resistors(ends, np.array([1.0, 1.0, 1e-4, 1e-4, 1e-4]), 4)
    assert weak.tolist() == [False, False, True, False, False]  # to ground, or a node with nothing stronger: kept


def network_netlist(sizes, acts, **options):
    g = make_mlp_graph(sizes, acts, seed=0)
    PassManager(spice_pipeline(np.random.default_rng(1).uniform(0, 1, (10, sizes[0])), **options)).run(g)
    return build_netlist(g)[0]


@pytest.mark.parametrize("make", [
    lambda: tile(9, 7, variation=0.3, r_wire=1.0, r_source=3.0, tile_rows=4)[0],
    lambda: tile(5, 6, device="sinh", device_v0=0.3, selector_g=2e-5, r_wire=1.0)[0],
    lambda: network_netlist([6, 7, 5, 3], ["relu", "tanh"], r_wire=1.0, tile=4),
    lambda: network_netlist([5, 4, 3], ["sigmoid"], device="cubic", stuck_on=0.1),
])
def test_the_in_memory_model_reads_exactly_as_its_text(make):
    net = make()
    a, b = parse(checked(net)), parse_model(net)
    for field in dataclasses.fields(a):
        x, y = getattr(a, field.name), getattr(b, field.name)
        parts = [(f.name, getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x)] \
            if dataclasses.is_dataclass(x) else [(field.name, x, y)]
        for name, u, v in parts:
            if isinstance(u, np.ndarray):
                assert u.dtype == v.dtype and np.array_equal(u, v), (field.name, name)
            else:
                same = list(u) == list(v) if isinstance(u, list | NodeTable) else u == v
                assert same, (field.name, name)


def lowered_folder(tmp_path, sizes, acts, seed=0, **options):
    g = make_mlp_graph(sizes, acts, seed=seed)
    x = np.random.default_rng(seed + 1).uniform(0, 1, (25, sizes[0]))
    PassManager(spice_pipeline(x, **options)).run(g)
    return SpiceFolder.load(emit(g, tmp_path / "sp")), x


@pytest.mark.parametrize("acts,options", [
    (["relu"], {}),
    (["relu", "tanh"], {"r_wire": 1.0, "tile": 4}),
    (["sigmoid", "hardtanh"], {"r_source": 20.0, "variation": 0.2}),
    (["relu"], {"device": "sinh", "device_v0": 0.25, "r_wire": 1.0, "tile": 4}),
    (["relu", "tanh"], {"device": "cubic"}),
    (["relu"], {"selector_g": 2e-5, "selector_v0": 0.05, "r_wire": 1.0}),
])
def test_whole_networks_with_rectifiers_and_behavioural_sources_agree_with_ngspice(tmp_path, acts, options):
    folder, x = lowered_folder(tmp_path, [6, 7, 5, 3], acts, **options)
    a = simulate(folder, x, progress=False, simulator="fast")
    b = simulate(folder, x, progress=False, simulator="ngspice")
    fullscale = folder.manifest["fullscale_volts"]
    assert np.abs(a["volts"] - b["volts"]).max() <= 1e-6 * fullscale
    assert np.abs(a["linear"] - b["linear"]).max() <= 1e-9 * fullscale
    assert (a["logits"].argmax(1) == b["logits"].argmax(1)).all()


@pytest.mark.parametrize("acts,options", [(["relu", "tanh"], {"r_wire": 1.0, "tile": 4}),
                                          (["sigmoid", "hardtanh"], {}), (["relu"], {"device": "sinh"})])
def test_the_torch_path_equals_numpys(tmp_path, acts, options):
    folder, x = lowered_folder(tmp_path, [6, 7, 5, 3], acts, **options)
    probes = folder.manifest["outputs"]["probes"]
    scale = folder.manifest["inputs"]["scale"]
    src = {s: scale * np.tile(x, (3, 1))[:, i] for i, s in enumerate(folder.manifest["inputs"]["sources"])}
    circuit = FastCircuit(folder.netlist)
    a = circuit.run(probes, src)
    b = circuit.run(probes, src, ops=TorchOps("cpu"))
    assert circuit.accelerator == ("numpy" if "device" in options else "torch (cpu)")  # (devices: numpy's chord)
    assert relative(b, a) <= 1e-12
    assert batch_ops(10).name == "numpy"  # a small batch never waits for torch
    import torch

    assert batch_ops(10**6).name == ("torch (cuda)" if torch.cuda.is_available() else "numpy")


def test_the_rectifier_is_simulated_not_assumed(tmp_path):
    """A weak op-amp makes the precision rectifier visibly non-ideal: the fast simulator follows ngspice, not the
    ideal ReLU."""
    folder, x = lowered_folder(tmp_path, [5, 6, 3], ["relu"], opamp_gain=30.0)
    a = simulate(folder, x, progress=False, simulator="fast")
    b = simulate(folder, x, progress=False, simulator="ngspice")
    ideal = interp.run(folder.graph, x)[folder.manifest["output_name"]] / folder.manifest["outputs"]["scale"]
    fullscale = folder.manifest["fullscale_volts"]
    assert np.abs(a["volts"] - b["volts"]).max() <= 1e-6 * fullscale
    assert np.abs(a["volts"] - ideal).max() >= 1e-3 * fullscale


@pytest.mark.parametrize("volts", [1.0, 0.3, -0.05, -2.0])  # forward, and both sides of the −3 nV_T switch
def test_diode_follows_ngspices_equations(volts):
    net = Netlist("diode")
    net.model("dm", "d", n=1.5, **{"is": 1e-12})
    net.vsource("s", "a", "0", volts)
    net.resistor("1", "a", "k", 1e3)
    net.diode("1", "k", "0", "dm")
    text = checked(net)
    v = FastCircuit(text).run(["k"])["k"][0]
    vte = 1.5 * THERMAL_VOLTAGE
    i = 1e-12 * (np.exp(v / vte) - 1) if v >= -3 * vte else -1e-12 * (1 + (3 * vte / (v * np.e)) ** 3)
    assert (volts - v) / 1e3 == pytest.approx(i + GMIN * v, rel=1e-9, abs=1e-18)  # 1e-15 V: the last bits of v
    assert v == pytest.approx(run_batch_shared(text, ["k"], {})["k"][0], rel=1e-7, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 7), st.integers(1, 6), st.integers(2, 5), st.sampled_from([0.0, 0.5, 3.0]),
       st.sampled_from([0.0, 7.0]), st.sampled_from([1e2, 1e6]), st.integers(1, 9), st.integers(0, 99))
def test_fast_equals_the_nodal_solver_on_random_tiles(rows, cols, tile_size, r_wire, r_sense, gain, k, seed):
    net, outs = tile(rows, cols, seed=seed, variation=0.5, r_wire=r_wire, r_sense=r_sense, opamp_gain=gain,
                     tile_rows=tile_size, tile_cols=tile_size)
    src = inputs(rows, k, seed)
    assert relative(FastCircuit(checked(net)).run(outs, src), NodalSolver(net).solve(src)) <= 1e-9


def test_spice_numbers_and_a_hand_edit_are_read_as_ngspice_reads_them():
    text = "* edited\nv1 a 0 dc 2\nr1 a b 1k\nr2 b 0 3meg\n.end\n"
    got = FastCircuit(check_netlist(text, "x")).run(["b"])["b"][0]
    assert got == pytest.approx(2 * 3e6 / (3e6 + 1e3), rel=1e-14)


def test_a_floating_node_is_named():
    text = "* float\nv1 a 0 dc 1\nr1 a 0 1\nr2 b c 1\n.end\n"
    with pytest.raises(SimulationError, match=r"^node 'b' of circuit 'float' floats: no path of elements to ground "
                                              r"\(2 such nodes\)$"):
        FastCircuit(check_netlist(text, "x"))


def test_a_node_only_read_by_an_amplifier_floats():
    text = "* open\ne1 o 0 c 0 2\nr1 o 0 1\n.end\n"
    with pytest.raises(SimulationError, match=r"^node 'c' of circuit 'open' floats"):
        FastCircuit(check_netlist(text, "x"))


def test_a_loop_of_voltage_sources_is_singular_and_named():
    text = "* loop\nv1 a 0 dc 1\nr1 a b 1\ne1 b 0 a 0 2\nv2 a 0 dc 2\n.end\n"
    with pytest.raises(SimulationError, match=r"^circuit 'loop' is singular: v2 closes a loop of voltage sources at "
                                              r"node '0' \(its voltage is fixed by the others already\)$"):
        FastCircuit(check_netlist(text, "x"))


def test_a_singular_matrix_without_a_loop_is_still_an_error():
    text = "* short\ne1 a 0 a 0 1\nr1 a 0 1\n.end\n"  # V(a) = V(a): a unity-gain amplifier reading itself
    with pytest.raises(SimulationError, match=r"^circuit 'short' is singular \(.*\): a loop of voltage sources, or a "
                                              r"source or amplifier shorted$"):
        FastCircuit(check_netlist(text, "x"))


def test_unknown_source_probe_and_diode_parameter():
    net, outs = tile(2, 2)
    circuit = FastCircuit(checked(net))
    with pytest.raises(SimulationError, match=r"^circuit 'tile' has no voltage source 'vx'$"):
        circuit.run(outs, {"vx": np.zeros(1)})
    with pytest.raises(SimulationError, match=r"^circuit 'tile' has no node 'nowhere'$"):
        circuit.run(["nowhere"])
    text = "* d\n.model dm d(is=1e-14 rs=5)\nv1 a 0 dc 1\nd1 a 0 dm\n.end\n"
    with pytest.raises(SimulationError, match=r"^netlist 'd': diode model 'dm' sets 'rs', which the fast simulator "
                                              r"does not model \(it takes is, n\): use --simulator ngspice$"):
        FastCircuit(check_netlist(text, "x"))


def test_newton_that_does_not_converge_names_the_input_the_element_and_the_residual(tmp_path, monkeypatch):
    folder, x = lowered_folder(tmp_path, [4, 5, 2], ["relu"])
    monkeypatch.setattr(fast_newton, "MAX_ITERATIONS", 1)
    with pytest.raises(SimulationError, match=r"^test input 0 of circuit 'sp': the fast simulator's Newton iteration "
                                              r"did not converge at dact3_\d+_d[12] of analog\.activation node 'act1' "
                                              r"\(last residual: a Newton step of \d\.\d{3}e[-+]\d+ V\)$"):
        simulate(folder, x, progress=False, simulator="fast")


@pytest.mark.parametrize("columns", [1, 5, 40])
def test_solves_through_the_factors_equal_superlus(columns):
    net, _ = tile(12, 12, seed=3, variation=0.4, r_wire=1.0)
    circuit = FastCircuit(checked(net))
    rhs = np.random.default_rng(0).standard_normal((circuit.size, columns))
    for transposed in (False, True):
        ours = circuit.solve(rhs, transposed)
        theirs = circuit.lu.solve(rhs, trans="T" if transposed else "N")
        assert np.abs(ours - theirs).max() <= 1e-12 * np.abs(theirs).max()
    vector = circuit.lu.solve(rhs[:, 0])
    assert np.abs(circuit.solve(rhs[:, 0]) - vector).max() <= 1e-12 * np.abs(vector).max()


@pytest.mark.parametrize("n,columns,wide,levels", [(12, 5, 3, 200), (12, 40, 3, 200), (40, 70, 8, 200),
                                                   (40, 3, 100, 10**6), (40, 6, 8, 2)])
def test_solves_through_the_factors_panels_equal_superlus(n, columns, wide, levels, monkeypatch):
    monkeypatch.setattr(fast_panels, "WIDE", wide)  # (a small factor has few wide supernodes: make some panels)
    monkeypatch.setattr(fast_panels, "MAX_LEVELS", levels)  # (2: the bottom is too deep for levels)
    net, _ = tile(n, n, seed=3, variation=0.4, r_wire=1.0)
    factors = FastCircuit(checked(net))._factorized()
    rhs = np.random.default_rng(0).standard_normal((factors.lu.shape[0], columns))
    for transposed in (False, True):
        ours = factors.solve(rhs, transposed, panels=True)
        theirs = factors.lu.solve(rhs, trans="T" if transposed else "N")
        assert np.abs(ours - theirs).max() <= 1e-12 * np.abs(theirs).max()
    lower = factors._panels[False][0]
    assert lower.panels if wide < 100 else not lower.panels  # (no supernode that wide: all of it the bottom)
    assert (lower.bottom.levels is None) == (levels == 2)


def test_a_big_response_goes_through_the_panels(monkeypatch):
    monkeypatch.setattr(fast, "PANEL_SOLVES", 20)
    monkeypatch.setattr(fast, "PANEL_SIZE", 1000)
    net, outs = tile(24, 24, seed=4, variation=0.2, r_wire=1.0)
    src = inputs(24, 200)
    circuit = FastCircuit(checked(net))
    got = circuit.run(outs, src)
    assert circuit._factorized()._panels  # (24 outputs against 25 columns: transposed solves, through panels)
    first = {k: v[:3] for k, v in src.items()}
    assert relative({o: v[:3] for o, v in got.items()}, run_batch_shared(checked(net), outs, first)) <= 1e-9
