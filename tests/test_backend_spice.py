import json
import re
from pathlib import Path

import numpy as np
import pytest

from backends.spice import emit
from backends.spice.emit import build
from backends.spice.run import SpiceFolder, simulate
from compiler.passes import PassManager
from compiler.pipelines import spice_pipeline
from compiler.verify import verify_spice
from ir import Graph, ModelFormatError, UnsupportedOpError, interp
from ir.dialects import nn
from learning.datasets import Dataset

GOLDEN = Path(__file__).parent / "golden" / "spice_tiny.cir"


def tiny(name: str = "fc1") -> Graph:
    g = Graph("tiny")
    g.add("x", nn.Input("x", (2,)))
    g.add_param("w1", np.array([[0.5, -1.0], [2.0, 0.25]]))
    g.add_param("b1", np.array([0.1, -0.2]))
    g.add(name, nn.Dense(2, 2, "w1", "b1"), ["x"])
    g.add("act1", nn.Activation("relu"), [name])
    g.add_param("w2", np.array([[1.0, -0.5]]))
    g.add("fc2", nn.Dense(2, 1, "w2"), ["act1"])
    g.add("out", nn.Output("logits"), ["fc2"])
    return g


def lower(g: Graph, x: np.ndarray, **kw) -> Graph:
    PassManager(spice_pipeline(x, **kw)).run(g)
    return g


CAL = np.array([[0.0, 1.0], [1.0, 0.5], [0.3, 0.0]])


def test_netlist_golden():
    net, _ = build(lower(tiny(), CAL))
    assert net.text() == GOLDEN.read_text()


def test_same_model_same_seed_same_bytes(tmp_path):
    options = {"variation": 0.1, "stuck_on": 0.1, "levels": 16, "seed": 3}
    emit(lower(tiny(), CAL, **options), tmp_path / "a")
    emit(lower(tiny(), CAL, **options), tmp_path / "b")
    for name in ("circuit.cir", "manifest.json", "model.ncm"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_node_names_cannot_inject_spice_text():
    evil = "fc1\n.control\nshell touch /tmp/pwned\n.endc"
    net, _ = build(lower(tiny(evil), CAL))
    lines = net.text().splitlines()
    assert len(lines) == net.count + 3  # title, .model, elements, .end: no line was smuggled in
    cards = [line for line in lines if line.startswith(".")]
    assert cards == [".model drect d(is=1e-14 n=1e+00)", ".end"]
    assert all(re.fullmatch(r"[a-z0-9_ .=()*+-]+", line) for line in lines)


def test_only_lowered_graphs_are_emitted():
    with pytest.raises(UnsupportedOpError, match=r"^node 'fc1' \(nn\.dense\) is not lowered for the spice target: "
                                                 r"run lower-analog first$"):
        build(tiny())


def _dataset(x: np.ndarray, y: np.ndarray) -> Dataset:
    return Dataset("synthetic", x, y, x, y, 3)


@pytest.mark.parametrize("options", [{}, {"tile": 3, "r_wire": 5.0, "r_source": 10.0, "r_sense": 2.0},
                                     {"opamp_gain": 1e3}])
def test_ngspice_agrees_with_the_reference(tmp_path, options):
    from tests.conftest import make_mlp_graph

    g = make_mlp_graph([5, 6, 3], ["relu"], seed=3)
    x = np.random.default_rng(4).uniform(0, 1, (30, 5))
    float_logits = interp.run(g, x)["logits"]
    folder = SpiceFolder.load(emit(lower(g, x, **options), tmp_path / "sp"))
    result = verify_spice(folder, _dataset(x, float_logits.argmax(1)), float_logits, progress=False)
    r = result.report
    assert r["linear_max_rel_error"] <= 1e-6, r
    assert r["output_max_error_volts"] <= r["output_tolerance_volts"], r
    assert r["decision_agreement_with_float"] >= 0.99 and result.passed


def test_a_hidden_identity_layer_compiles_and_agrees_with_the_reference(tmp_path):
    """Identity is folded away, so a crossbar is fed straight by the inverted output of the one before it."""
    from tests.conftest import make_mlp_graph

    g = make_mlp_graph([5, 6, 4, 3], ["identity", "relu"], seed=5)
    x = np.random.default_rng(6).uniform(0, 1, (20, 5))
    float_logits = interp.run(g, x)["logits"]
    lowered = lower(g, x)
    np.testing.assert_allclose(interp.run(lowered, x)["logits"], float_logits, rtol=0, atol=1e-3)
    folder = SpiceFolder.load(emit(lowered, tmp_path / "sp"))
    result = verify_spice(folder, _dataset(x, float_logits.argmax(1)), float_logits, progress=False)
    assert result.passed and result.report["decision_agreement_with_float"] == 1.0, result.report


def test_non_ideal_devices_are_checked_against_the_reference_and_their_cost_is_reported(tmp_path):
    """Heavy variation moves decisions away from the float network; the circuit still equals its reference."""
    from tests.conftest import make_mlp_graph

    g = make_mlp_graph([5, 6, 3], ["relu"], seed=3)
    x = np.random.default_rng(4).uniform(0, 1, (40, 5))
    float_logits = interp.run(g, x)["logits"]
    folder = SpiceFolder.load(emit(lower(g, x, variation=0.8, stuck_on=0.1, seed=1), tmp_path / "sp"))
    result = verify_spice(folder, _dataset(x, float_logits.argmax(1)), float_logits, progress=False)
    r = result.report
    assert r["decision_agreement_with_float"] < 0.99, r  # the non-idealities cost decisions...
    assert r["decision_agreement_with_reference"] == 1.0 and result.passed, r  # ...but the circuit is right


def test_manifest_names_inputs_outputs_and_tiles(tmp_path):
    out = emit(lower(tiny(), CAL, tile=2), tmp_path / "sp")
    m = json.loads((out / "manifest.json").read_text())
    assert m["inputs"]["sources"] == ["vdac1_0", "vdac1_1"] and m["inputs"]["scale"] == pytest.approx(0.2)
    assert m["tiles"]["fc1"] == [[0, 2, 0, 2], [2, 3, 0, 2]] and len(m["outputs"]["probes"]) == 1
    assert m["names"] == {"x": "x0", "dac": "dac1", "fc1": "xb2", "act1": "act3", "fc2": "xb4", "adc": "adc5"}
    assert m["budget_volts"] > 0
    assert sorted(m["files"]) == ["circuit.cir", "model.ncm"]


def test_simulate_rejects_wrong_width(tmp_path):
    folder = SpiceFolder.load(emit(lower(tiny(), CAL), tmp_path / "sp"))
    from ir import SimulationError

    with pytest.raises(SimulationError, match=r"^circuit 'sp' takes 2 inputs, not 3$"):
        simulate(folder, np.zeros((1, 3)))


def test_incomplete_folder(tmp_path):
    with pytest.raises(ModelFormatError, match=rf"^folder '{tmp_path}': manifest\.json is missing$"):
        SpiceFolder.load(tmp_path)


def test_non_convergence_names_the_input(tmp_path, monkeypatch):
    import backends.spice.run as run
    from ir import SimulationError

    folder = SpiceFolder.load(emit(lower(tiny(), CAL), tmp_path / "sp"))
    real = run.run_batch

    def flaky(netlist, probes, sources):  # ngspice "fails" whenever a batch holds the poisoned input
        if any(np.any(v == 0.777 * folder.manifest["inputs"]["scale"]) for v in sources.values()):
            raise SimulationError("ngspice failed on 'tiny' (exit 1, 0 of 1 operating points): singular matrix: "
                                  "check node xb2_t0_c1")
        return real(netlist, probes, sources)

    monkeypatch.setitem(run.RUNNERS, "subprocess", flaky)
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.777], [0.2, 0.1]])
    with pytest.raises(SimulationError, match=r"^ngspice found no operating point for test input 2 of circuit "
                                              r"'sp' in tile 0 of crossbar 'fc1': ngspice failed on 'tiny'"):
        simulate(folder, x, progress=False, runner="subprocess")


def test_shared_library_and_subprocess_runners_agree_exactly(tmp_path):
    folder = SpiceFolder.load(emit(lower(tiny(), CAL, r_wire=3.0), tmp_path / "sp"))
    x = np.random.default_rng(0).uniform(0, 1, (7, 2))
    a = simulate(folder, x, progress=False, runner="shared")
    b = simulate(folder, x, progress=False, runner="subprocess")
    for key in ("volts", "linear"):
        np.testing.assert_array_equal(a[key], b[key])


def test_shared_library_missing_names_the_package(monkeypatch):
    import circuits.analog.ngspice_shared as shared
    from ir import ToolNotFoundError

    monkeypatch.setenv("NGSPICE_LIBRARY_PATH", "/nonexistent/libngspice.so")
    monkeypatch.setattr(shared, "_LIBRARY_DIRS", ())
    monkeypatch.setattr(shared.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(ToolNotFoundError, match=r"^the ngspice shared library is not installed: apt-get install "
                                                r"libngspice0$"):
        shared.run_batch_shared("* t\n.end\n", [], {})

