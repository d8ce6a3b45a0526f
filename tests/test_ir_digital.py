"""The integer semantics of the digital dialect (what the hardware must match bit for bit)."""

import numpy as np
import pytest

import ir
from ir import VerifyError
from ir.dialects import digital
from ir.interp_digital import quantize_float, saturate, shift_round


def test_shift_round_is_half_up():
    v = np.array([-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6])
    # v / 4 rounded half up: -1.5 → -1, -1.25 → -1, -0.5 → 0, 0.5 → 1, 1.5 → 2
    np.testing.assert_array_equal(shift_round(v, 2), [-1, -1, -1, -1, 0, 0, 0, 0, 1, 1, 1, 1, 2])
    np.testing.assert_array_equal(shift_round(v, -1), 2 * v)
    np.testing.assert_array_equal(shift_round(v, 0), v)


def test_float_quantization_rounds_like_the_shift():
    x = np.array([-1.0, -0.375, -0.125, 0.125, 0.375, 0.99, 5.0])
    np.testing.assert_array_equal(quantize_float(x, 4, 2), [-4, -1, 0, 1, 2, 4, 7])  # saturates at 7


def test_saturate():
    np.testing.assert_array_equal(saturate(np.array([-200, -128, 0, 127, 300]), 8), [-128, -128, 0, 127, 127])


def _graph(w, b, fn="relu", in_bits=4, acc_bits=None):
    from ir.dialects import nn

    g = ir.Graph("d")
    g.add("x", nn.Input("x", (w.shape[1],)))
    g.add("q", digital.Quantize(in_bits, 2), ["x"])
    g.add_param("w", np.asarray(w, dtype=np.int64))
    g.add_param("b", np.asarray(b, dtype=np.int64))
    bound = digital.accumulator_bound(g.params["w"], g.params["b"], in_bits)
    g.add("fc", digital.Dense(w.shape[1], w.shape[0], "w", "b", 4, 1, in_bits, 2,
                              acc_bits or bound.bit_length() + 1), ["q"])
    g.add("r", digital.Requantize(fn, 3, 4, 1), ["fc"])
    g.add("dq", digital.Dequantize(1), ["r"])
    g.add("out", nn.Output("y"), ["dq"])
    return g


def test_dense_requantize_by_hand():
    g = _graph(np.array([[3, -2], [-7, 7]]), np.array([5, -1]))
    x = np.array([[0.5, 0.25]])  # codes [2, 1]
    # acc = [3*2 - 2*1 + 5, -7*2 + 7*1 - 1] = [9, -8], frac 3 → to frac 1: round(9/4) = 2, round(-8/4) = -2
    # relu → [2, 0] → 1.0, 0.0
    np.testing.assert_array_equal(ir.interp.run(g, x)["y"], [[1.0, 0.0]])


def test_hardtanh_clamps_to_one_in_the_output_format():
    g = _graph(np.array([[7, 7]]), np.array([0]), fn="hardtanh")
    np.testing.assert_array_equal(ir.interp.run(g, np.array([[1.5, 1.5]]))["y"], [[1.0]])


def test_accumulator_too_narrow_is_refused():
    with pytest.raises(VerifyError, match=r"^node 'fc' \(digital\.dense\): accumulator of 6 bits can overflow: "
                                          r"the weights need 8$"):
        _graph(np.array([[7, 7], [1, 1]]), np.array([3, 0]), acc_bits=6).verify()


def test_weights_must_fit_their_width():
    with pytest.raises(VerifyError, match=r"^node 'fc' \(digital\.dense\): weight 'w' must fit 4 bits, not span "
                                          r"\[-9, 7\]$"):
        _graph(np.array([[7, -9]]), np.array([0])).verify()


def test_digital_graph_round_trips(tmp_path):
    g = _graph(np.array([[3, -2], [-7, 7]]), np.array([5, -1]))
    ir.save(g, tmp_path / "d.ncm")
    h = ir.load(tmp_path / "d.ncm")
    assert ir.print_graph(h) == ir.print_graph(g)
    assert "-> i4[2]" in ir.print_graph(h) and h.params["w"].dtype == np.int64
