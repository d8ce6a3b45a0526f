import numpy as np
import pytest

from compiler.passes import PASSES, Pass, PassManager
from compiler.passes.base import pass_table
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog
from compiler.passes.onchip import OnChipLearning
from compiler.passes.quantize import Quantize
from ir import LoweringError, interp
from ir.dialects import nn
from tests.conftest import make_mlp_graph


def test_registry_is_explicit():
    assert PASSES == {"fold-identity": FoldIdentity, "lower-analog": LowerAnalog, "onchip-learning": OnChipLearning,
                      "quantize": Quantize}
    with pytest.raises(TypeError, match=r"^pass name 'fold-identity' registered twice$"):
        pass_table(FoldIdentity, FoldIdentity)


def test_fold_identity_keeps_semantics():
    g = make_mlp_graph([3, 5, 4, 2], ["identity", "relu"])
    x = np.random.default_rng(0).standard_normal((9, 3))
    before = interp.run(g, x)["logits"]
    PassManager([FoldIdentity()]).run(g)
    assert [op.fn for _, op in g.nodes() if isinstance(op, nn.Activation)] == ["relu"]
    np.testing.assert_array_equal(interp.run(g, x)["logits"], before)


def test_manager_names_a_pass_that_breaks_the_graph():
    class Breaker(Pass):
        name = "breaker"

        def run(self, graph):
            graph.params["fc1.weight"] = np.zeros((1, 1))

    g = make_mlp_graph([3, 2], [])
    with pytest.raises(LoweringError, match=r"^pass 'breaker' left graph 'mlp' invalid: node 'fc1' \(nn\.dense\): "
                                            r"weight 'fc1\.weight' must have shape \(2, 3\), not \(1, 1\)$"):
        PassManager([Breaker()]).run(g)
