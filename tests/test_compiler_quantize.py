import copy

import numpy as np
import pytest

from compiler.evaluate import quantized_accuracy, reference_accuracy
from compiler.passes import PassManager
from compiler.passes.quantize import Quantize, frac_bits
from compiler.pipelines import quantize_pipeline
from ir import LoweringError, VerifyError, interp
from ir.dialects import digital
from tests.conftest import make_mlp_graph


def quantized(sizes=(5, 7, 3), acts=("relu",), wb=8, ab=8, seed=0):
    g = make_mlp_graph(list(sizes), list(acts), seed=seed)
    x = np.random.default_rng(seed + 1).uniform(0, 1, (300, sizes[0]))
    ref = interp.run(g, x)["logits"]
    q = copy.deepcopy(g)
    PassManager(quantize_pipeline(x, wb, ab)).run(q)
    return q, x, ref


def test_frac_bits():
    assert frac_bits(1.0, 8) == 6 and frac_bits(0.9, 8) == 7 and frac_bits(100.0, 8) == 0
    assert frac_bits(200.0, 8) == -1


@pytest.mark.parametrize("acts", [("relu",), ("hardtanh",), ("identity",), ("tanh",), ("sigmoid",)])
def test_quantized_graph_tracks_the_float_network(acts):
    q, x, ref = quantized((5, 7, 6, 3), acts, wb=12, ab=12)
    out = interp.run(q, x)["logits"]
    assert np.abs(out - ref).max() < 0.02 * np.abs(ref).max()


def test_formats_never_saturate_on_calibration_and_accumulators_never_overflow():
    q, x, _ = quantized((5, 7, 6, 3), ("relu",))
    kept = interp.run(q, x, keep=("quant", "act1", "act2", "fc1", "fc2", "fc3"))
    for node in ("quant", "act1", "act2"):
        assert np.abs(kept[node]).max() <= 127
    for node in ("fc1", "fc2", "fc3"):
        op = q.op(node)
        assert isinstance(op, digital.Dense)
        # The worst input the format allows: every input at ±2^(in_bits-1), signed to match each weight.
        w = q.params[op.weight]
        worst = np.abs(w).sum(axis=1) * (1 << (op.in_bits - 1)) + np.abs(q.params[op.bias])
        assert worst.max() < (1 << (op.acc_bits - 1))
        assert np.abs(kept[node]).max() <= worst.max()


def test_narrow_weight_format_names_the_layer_and_the_bits():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    g.params["fc2.weight"][0, 0] = 37.2
    with pytest.raises(LoweringError, match=r"^layer 'fc2': weights up to 37\.2 need 7 bits, but --weight-bits is "
                                            r"4$"):
        Quantize(calibration=np.ones((2, 3)), weight_bits=4).run(g)


@pytest.mark.parametrize("fn", ["tanh", "sigmoid"])
def test_tanh_and_sigmoid_become_lookup_tables(fn):
    q, x, _ = quantized((5, 7, 3), (fn,), wb=8, ab=8)
    op = q.op("act1")
    assert isinstance(op, digital.Requantize) and op.table == "act1.table"
    table = q.params[op.table]
    assert table.shape == (1024,) and table.dtype.kind == "i"
    kept = interp.run(q, x, keep=("fc1", "act1"))
    # every pre-activation lands within one output step of the function, or in the table's saturated tails
    pre = kept["fc1"] / 2.0 ** q.op("fc1").acc_frac
    reach = 4.0 if fn == "tanh" else 8.0
    f = np.tanh(np.clip(pre, -reach, reach)) if fn == "tanh" else 1 / (1 + np.exp(-np.clip(pre, -reach, reach)))
    step = 2.0 ** -op.table_frac * 1.0 + 2.0 ** -op.out_frac
    assert np.abs(kept["act1"] / 2.0 ** op.out_frac - f).max() <= step


def test_a_requantize_table_must_match_its_activation():
    g, _, _ = quantized((5, 7, 3), ("tanh",))
    op = g.op("act1")
    with pytest.raises(VerifyError, match=r"^requantize 'relu' needs a lookup table exactly when it is one of tanh, "
                                          r"sigmoid$"):
        digital.Requantize("relu", op.in_frac, op.out_bits, op.out_frac, op.table, op.table_frac).verify()


def test_bad_widths():
    with pytest.raises(LoweringError, match=r"^--act-bits must be an integer in \[2, 32\], not 1$"):
        Quantize(calibration=np.ones((2, 5)), act_bits=1).run(make_mlp_graph([5, 2], []))


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["bp", "dfa"])
def test_8_bit_loses_at_most_one_point_on_digits(rule, default_run):
    result = default_run(rule)
    from compiler.frontend import from_trained

    g = from_trained(result)
    float_acc = reference_accuracy(g, result.dataset).accuracy
    q_acc = quantized_accuracy(g, result.dataset, 8, 8).accuracy
    assert q_acc >= float_acc - 0.01, (float_acc, q_acc)
