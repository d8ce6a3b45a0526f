import numpy as np
import pytest

from compiler.passes import PassManager
from compiler.passes.lower_analog import LowerAnalog
from compiler.pipelines import spice_pipeline
from ir import LoweringError, UnsupportedOpError, interp
from ir.dialects import analog
from tests.conftest import make_mlp_graph


def lowered(sizes=(5, 7, 3), acts=("relu",), tile=64, net_seed=0, **kw):
    """A random network, lowered with pass options ``kw`` (``seed`` there is the device non-idealities')."""
    g = make_mlp_graph(list(sizes), list(acts), seed=net_seed)
    x = np.random.default_rng(net_seed + 1).uniform(0, 1, (200, sizes[0]))
    ref = interp.run(g, x, keep=tuple(n for n in g.toposort() if n.startswith(("fc", "act"))))
    PassManager(spice_pipeline(x, tile=tile, **kw)).run(g)
    return g, x, ref


@pytest.mark.parametrize("acts", [("relu",), ("tanh",), ("sigmoid",), ("hardtanh",)])
def test_lowered_graph_computes_the_network(acts):
    g, x, ref = lowered((5, 7, 6, 3), acts)
    # Only the op-amps' finite gain (1e6) separates the circuit equations from the float network.
    np.testing.assert_allclose(interp.run(g, x)["logits"], ref["logits"], rtol=0,
                               atol=1e-4 * np.abs(ref["logits"]).max())


def test_scales_keep_every_layer_in_the_read_range_and_devices_in_range():
    g, x, _ = lowered((5, 7, 6, 3), ("relu",), v_read=0.2, g_min=1e-6, g_max=1e-4)
    assert g.op("dac").scale * np.abs(x).max() == pytest.approx(0.2)
    volts = interp.run(g, x, keep=("act1", "act2", "fc1", "fc2", "fc3"))
    for node in ("act1", "act2"):
        assert np.abs(volts[node]).max() == pytest.approx(0.2, rel=1e-4)
    for node in ("fc1", "fc2", "fc3"):
        assert np.abs(volts[node]).max() == pytest.approx(1.0, rel=1e-4)  # v_tia
        op = g.op(node)
        for p in (op.g_pos, op.g_neg):
            assert g.params[p].min() >= 1e-6 - 1e-18 and g.params[p].max() <= 1e-4 + 1e-18
        assert max(g.params[op.g_pos].max(), g.params[op.g_neg].max()) == pytest.approx(1e-4)
    assert "fc1.weight" not in g.params and g.op("adc").budget_volts > 0


def test_tiling_keeps_the_result():
    g64, x, _ = lowered((9, 7, 3), tile=64)
    g3, _, _ = lowered((9, 7, 3), tile=3)
    assert g3.op("fc1").tile_rows == 3
    np.testing.assert_allclose(interp.run(g3, x)["logits"], interp.run(g64, x)["logits"], rtol=1e-12)


def test_wire_resistance_uses_the_nodal_reference():
    g0, x, _ = lowered((6, 5, 3), tile=4)
    gw, _, _ = lowered((6, 5, 3), tile=4, r_wire=50.0, r_source=20.0, r_sense=10.0)
    a, b = interp.run(g0, x)["logits"], interp.run(gw, x)["logits"]
    assert 1e-5 < np.abs(a - b).max() / np.abs(a).max() < 0.2


@pytest.mark.parametrize("options,message", [
    ({"g_min": 1e-4, "g_max": 1e-6}, r"^device range must have 0 < G_min < G_max, not G_min=0\.0001, "
                                     r"G_max=1e-06$"),
    ({"g_min": 1e-5, "g_max": 1e-5}, r"^device range must have 0 < G_min < G_max"),
    ({"tile": 1}, r"^tile size must be at least 2, not 1$"),
    ({"levels": 1}, r"^conductance levels must be 0 \(continuous\) or at least 2, not 1$"),
    ({"variation": -0.1}, r"^device variation must be zero or positive, not -0\.1$"),
    ({"stuck_on": 1.5}, r"^stuck-on rate must be within \[0, 1\], not 1\.5$"),
])
def test_bad_options(options, message):
    with pytest.raises(LoweringError, match=message):
        lowered(**options)


def test_unsupported_op_is_named():
    from dataclasses import dataclass
    from typing import ClassVar

    from ir.op import OPS, Op, register

    if "test.exotic" not in OPS:
        @register
        @dataclass(frozen=True, slots=True)
        class Exotic(Op):
            kind: ClassVar[str] = "test.exotic"
            inputs: ClassVar[tuple[str, ...]] = ("in",)
            outputs: ClassVar[tuple[str, ...]] = ("out",)

            def infer(self, ins, params):
                return ins
    g = make_mlp_graph([3, 2], [])
    g.insert_after("fc1", "weird", OPS["test.exotic"]())
    with pytest.raises(UnsupportedOpError, match=r"^node 'weird' \(test\.exotic\) has no analog circuit: the "
                                                 r"analog target lowers nn\.dense and nn\.activation$"):
        LowerAnalog(calibration=np.ones((2, 3))).run(g)


def test_relu_is_an_inverting_rectifier_in_the_ir():
    g, _, _ = lowered()
    act = g.op("act1")
    assert isinstance(act, analog.Activation) and act.in_gain < 0 and act.out_scale == 1.0


def test_levels_quantize_conductances():
    g, _, _ = lowered(levels=5, g_min=1e-6, g_max=1e-4)
    allowed = np.linspace(1e-6, 1e-4, 5)
    for p in ("fc1.g_pos", "fc1.g_neg", "fc2.g_pos"):
        assert np.all(np.min(np.abs(g.params[p][..., None] - allowed), axis=-1) < 1e-15)


def test_variation_and_faults_are_seeded_and_change_the_circuit():
    a, x, ref = lowered(variation=0.1, stuck_on=0.05, stuck_off=0.05, seed=7)
    b, _, _ = lowered(variation=0.1, stuck_on=0.05, stuck_off=0.05, seed=7)
    c, _, _ = lowered(variation=0.1, stuck_on=0.05, stuck_off=0.05, seed=8)
    np.testing.assert_array_equal(a.params["fc1.g_pos"], b.params["fc1.g_pos"])
    assert not np.array_equal(a.params["fc1.g_pos"], c.params["fc1.g_pos"])
    faulty, _, _ = lowered((20, 30, 10), stuck_on=0.3, stuck_off=0.3, seed=1)
    g = np.concatenate([faulty.params[p].ravel() for p in ("fc1.g_pos", "fc1.g_neg", "fc2.g_pos", "fc2.g_neg")])
    ideal, _, _ = lowered((20, 30, 10))
    g0 = np.concatenate([ideal.params[p].ravel() for p in ("fc1.g_pos", "fc1.g_neg", "fc2.g_pos", "fc2.g_neg")])
    programmed = ~np.isclose(g0, 1e-6, rtol=1e-9, atol=0)  # devices that carry weight when fault-free
    assert abs((g == 1e-4).mean() - 0.3) < 0.05 and abs((g[programmed] == 1e-6).mean() - 0.3) < 0.05
    kept = (g != 1e-4) & (g != 1e-6)
    np.testing.assert_array_equal(g[kept], g0[kept])  # the other devices keep their programmed value
    assert np.abs(interp.run(a, x)["logits"] - ref["logits"]).max() > 1e-3  # the faults cost accuracy


def test_branching_graph_is_unsupported():
    from ir.dialects import nn

    g = make_mlp_graph([3, 2], [])
    g.add("side", nn.Activation("relu"), ["fc1"])
    g.add("out2", nn.Output("other"), ["side"])
    with pytest.raises(UnsupportedOpError, match=r"must have one input and one output"):
        LowerAnalog(calibration=np.ones((2, 3))).run(g)
    g2 = make_mlp_graph([3, 2], [])
    g2.add("side", nn.Activation("relu"), ["x"])
    with pytest.raises(UnsupportedOpError, match=r"^node 'x' feeds 2 nodes: the analog target lowers a chain of "
                                                 r"layers$"):
        LowerAnalog(calibration=np.ones((2, 3))).run(g2)
