import numpy as np
import pytest
from torch import nn as tnn

import ir
from compiler.frontend import from_sequential, from_trained
from ir import UnsupportedOpError, VerifyError
from learning.trainer import TrainConfig, train


def test_import_sequential_structure():
    seq = tnn.Sequential(tnn.Linear(4, 3), tnn.Tanh(), tnn.Linear(3, 2, bias=False), tnn.Identity())
    g = from_sequential(seq, name="s")
    assert [op.kind for _, op in g.nodes()] == ["nn.input", "nn.dense", "nn.activation", "nn.dense",
                                                 "nn.activation", "nn.output"]
    assert g.op("fc2").bias is None
    assert g.params["fc1.weight"].dtype == np.float64
    np.testing.assert_array_equal(g.params["fc1.weight"], seq[0].weight.detach().double().numpy())


def test_unsupported_layer_named():
    seq = tnn.Sequential(tnn.Linear(4, 3), tnn.ReLU(), tnn.Dropout(0.1), tnn.Linear(3, 2))
    with pytest.raises(UnsupportedOpError, match=r"^layer 2 \(Dropout\) of the nn\.Sequential is not supported: "
                                                 r"neurocc imports Linear, ReLU, Tanh, Sigmoid, Hardtanh\(-1, 1\), "
                                                 r"Identity$"):
        from_sequential(seq)


def test_hardtanh_bounds_must_be_unit():
    with pytest.raises(UnsupportedOpError, match=r"^layer 1 \(Hardtanh\) must clamp to \(-1\.0, 1\.0\), "
                                                 r"not \(0\.0, 6\.0\)$"):
        from_sequential(tnn.Sequential(tnn.Linear(2, 2), tnn.Hardtanh(0.0, 6.0)))


def test_shape_mismatch_between_layers():
    seq = tnn.Sequential(tnn.Linear(4, 3), tnn.ReLU(), tnn.Linear(5, 2))
    with pytest.raises(VerifyError, match=r"^layer 2 \(Linear\) of the nn\.Sequential does not fit the layer "
                                          r"before it: node 'fc2' \(nn\.dense\): input must have shape \(5,\) to "
                                          r"match in_features, not \(3,\)$"):
        from_sequential(seq)


def test_not_a_sequential():
    with pytest.raises(UnsupportedOpError, match=r"^the frontend imports a torch nn\.Sequential, not Linear$"):
        from_sequential(tnn.Linear(2, 2))  # type: ignore[arg-type]


def test_no_linear_layer():
    with pytest.raises(UnsupportedOpError, match=r"^the nn\.Sequential must contain at least one Linear layer$"):
        from_sequential(tnn.Sequential(tnn.ReLU()))


def test_from_trained_records_rule_and_feedback():
    result = train(TrainConfig(rule="dfa", hidden=(16, 8), epochs=1), progress=False)
    g = from_trained(result)
    rule = g.op("rule")
    assert rule.rule == "dfa" and rule.seed == 0
    hyper = rule.hyper_dict()
    assert hyper["lr"] == 1e-3 and hyper["feedback_scale"] == 1.0 and hyper["activation"] == "relu"
    fbs = [g.op(n) for n in g.find("learn.feedback")]
    assert [(f.target, f.source) for f in fbs] == [("fc1", "fc3"), ("fc2", "fc3")]
    np.testing.assert_array_equal(g.params["fc1.feedback"], result.rule.B[0].double().numpy())
    assert g.params["fc2.feedback"].shape == (8, 10)
    assert g.meta["dataset"] == "digits" and len(g.meta["history"]) == 1


def test_from_trained_bp_has_no_feedback():
    g = from_trained(train(TrainConfig(rule="bp", epochs=1), progress=False))
    assert g.op("rule").rule == "bp" and g.find("learn.feedback") == []
    ir.print_graph(g)
