import numpy as np
import pytest

from ir import Graph, VerifyError
from ir.dialects import learn, nn
from tests.conftest import make_mlp_graph


def test_verify_returns_types(small_graph):
    types = small_graph.verify()
    assert str(types[("fc1", "out")]) == "f64[4]"
    assert str(types[("fc2", "out")]) == "f64[2]"


def test_toposort_is_insertion_order_for_ties(small_graph):
    assert small_graph.toposort() == ["x", "fc1", "act1", "fc2", "out", "rule", "feedback1"]


def test_shape_mismatch_between_layers_names_the_node():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    g.replace("fc2", nn.Dense(5, 2, "fc2.weight", "fc2.bias"))
    with pytest.raises(VerifyError, match=r"^node 'fc2' \(nn\.dense\): input must have shape \(5,\) to match "
                                          r"in_features, not \(4,\)$"):
        g.verify()


def test_weight_shape_mismatch():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    g.params["fc1.weight"] = np.zeros((4, 5))
    with pytest.raises(VerifyError, match=r"^node 'fc1' \(nn\.dense\): weight 'fc1\.weight' must have shape "
                                          r"\(4, 3\), not \(4, 5\)$"):
        g.verify()


def test_nan_weight_names_node_param_and_index():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    g.params["fc2.weight"][1, 2] = np.nan
    with pytest.raises(VerifyError, match=r"^node 'fc2' \(nn\.dense\): parameter 'fc2\.weight' must be finite, "
                                          r"not nan at index \(1, 2\)$"):
        g.verify()


def test_missing_param():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    del g.params["fc1.bias"]
    with pytest.raises(VerifyError, match=r"^node 'fc1' \(nn\.dense\): parameter 'fc1\.bias' is missing$"):
        g.verify()


def test_unknown_activation():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    g.replace("act1", nn.Activation("gelu"))
    with pytest.raises(VerifyError, match=r"^node 'act1' \(nn\.activation\): activation must be one of relu, "
                                          r"tanh, sigmoid, hardtanh, identity, not 'gelu'$"):
        g.verify()


def test_feedback_shape_checked(small_graph):
    small_graph.params["fc1.feedback"] = np.zeros((2, 4))
    with pytest.raises(VerifyError, match=r"^node 'feedback1' \(learn\.feedback\): feedback matrix "
                                          r"'fc1\.feedback' must have shape \(4, 2\), not \(2, 4\)$"):
        small_graph.verify()


def test_feedback_to_missing_node(small_graph):
    small_graph.replace("feedback1", learn.Feedback("fc9", "fc2", "fc1.feedback"))
    with pytest.raises(VerifyError, match=r"^node 'feedback1' \(learn\.feedback\): referenced node 'fc9' "
                                          r"does not exist$"):
        small_graph.verify()


def test_unknown_rule_in_ir():
    g = Graph()
    g.add("rule", learn.Rule("magic"))
    with pytest.raises(VerifyError, match=r"^node 'rule' \(learn\.rule\): rule must be one of bp, .*, not 'magic'$"):
        g.verify()


def test_add_checks_inputs():
    g = Graph()
    with pytest.raises(VerifyError, match=r"^node 'fc' \(nn\.dense\) must have 1 input\(s\), not 0$"):
        g.add("fc", nn.Dense(1, 1, "w"))
    with pytest.raises(VerifyError, match=r"^node 'fc': input 'nope' does not exist$"):
        g.add("fc", nn.Dense(1, 1, "w"), ["nope"])


def test_duplicate_node():
    g = Graph()
    g.add("x", nn.Input("x", (2,)))
    with pytest.raises(VerifyError, match=r"^node 'x' already exists$"):
        g.add("x", nn.Input("x", (2,)))


def test_cycle_detected():
    g = make_mlp_graph([2, 2, 2], ["relu"])
    g.connect("fc2", "fc1", "extra")
    with pytest.raises(VerifyError, match=r"^graph 'mlp' has a cycle$"):
        g.verify()


def test_remove_bypasses_single_port_node():
    g = make_mlp_graph([3, 4, 2], ["identity"])
    g.remove("act1")
    assert g.sources("fc2") == [("fc1", "out")]
    g.verify()


def test_replace_must_keep_ports():
    g = make_mlp_graph([3, 4, 2], ["relu"])
    with pytest.raises(VerifyError, match=r"^node 'act1': replacement nn\.output must have the ports of "
                                          r"nn\.activation$"):
        g.replace("act1", nn.Output("y"))


def test_ops_are_frozen_and_hashable():
    op = nn.Dense(2, 3, "w", "b")
    assert op == nn.Dense(2, 3, "w", "b") and hash(op) == hash(nn.Dense(2, 3, "w", "b"))
    with pytest.raises(AttributeError):
        op.in_features = 4  # type: ignore[misc]
