import numpy as np
import pytest

from compiler.passes import PASSES, Pass, PassManager
from compiler.passes.base import pass_table
from compiler.passes.fit_device import FitDevice
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog
from compiler.passes.map_lanes import MapLanes
from compiler.passes.onchip import OnChipLearning
from compiler.passes.place_outputs import PlaceOutputs
from compiler.passes.quantize import Quantize
from ir import LoweringError, interp
from ir.dialects import nn
from tests.conftest import make_mlp_graph


def test_registry_is_explicit():
    assert PASSES == {"fit-device": FitDevice, "fold-identity": FoldIdentity, "lower-analog": LowerAnalog,
                      "map-lanes": MapLanes, "onchip-learning": OnChipLearning, "place-outputs": PlaceOutputs,
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


@pytest.mark.parametrize("n_in,n_out,lanes,expected", [(64, 64, 8, (8, 1)), (64, 10, 8, (2, 4)), (3, 12, 12, (12, 1)),
                                                       (9, 1, 4, (1, 3)), (5, 5, 1, (1, 1))])
def test_map_lanes_splits_narrow_layers_over_their_inputs(n_in, n_out, lanes, expected):
    from compiler.passes.map_lanes import lane_mapping

    assert lane_mapping(n_in, n_out, lanes) == expected
