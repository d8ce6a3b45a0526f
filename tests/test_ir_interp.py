import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.frontend import from_sequential
from ir import UnsupportedOpError, VerifyError, interp
from ir.activations import ACTIVATION_FNS
from ir.dialects import nn
from ir.op import Op, register
from tests.conftest import make_mlp_graph

TORCH_ACTS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
              "hardtanh": torch.nn.Hardtanh, "identity": torch.nn.Identity}


@pytest.mark.parametrize("fn", nn.ACTIVATIONS)
def test_activation_kernels_match_torch(fn):
    x = np.linspace(-800, 800, 4001)
    expected = TORCH_ACTS[fn]()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ACTIVATION_FNS[fn](x), expected, rtol=1e-15, atol=1e-300)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        y = ACTIVATION_FNS["sigmoid"](np.array([-1e4, 0.0, 1e4]))
    np.testing.assert_array_equal(y, [0.0, 0.5, 1.0])


def test_dense_by_hand():
    g = make_mlp_graph([2, 1], [])
    g.params["fc1.weight"][:] = [[2.0, -3.0]]
    g.params["fc1.bias"][:] = [0.5]
    out = interp.run(g, np.array([[1.0, 1.0], [0.0, 2.0]]))["logits"]
    np.testing.assert_array_equal(out, [[-0.5], [-5.5]])


def test_wrong_input_shape():
    g = make_mlp_graph([3, 2], [])
    with pytest.raises(VerifyError, match=r"^input 'x' must have shape \(batch, 3\), not \(4, 2\)$"):
        interp.run(g, np.zeros((4, 2)))


def test_op_without_kernel_is_unsupported():
    from dataclasses import dataclass
    from typing import ClassVar

    @register
    @dataclass(frozen=True, slots=True)
    class Mystery(Op):
        kind: ClassVar[str] = "test.mystery"
        inputs: ClassVar[tuple[str, ...]] = ("in",)
        outputs: ClassVar[tuple[str, ...]] = ("out",)

        def infer(self, ins, params):
            return ins

    g = make_mlp_graph([3, 2], [])
    g.add("m", Mystery(), ["fc1"])
    with pytest.raises(UnsupportedOpError, match=r"^node 'm': the reference interpreter has no kernel for "
                                                 r"test\.mystery$"):
        interp.run(g, np.zeros((1, 3)))


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 8), min_size=2, max_size=5),
       acts=st.lists(st.sampled_from(nn.ACTIVATIONS), min_size=1, max_size=3),
       seed=st.integers(0, 10**6))
def test_property_interp_matches_torch_float64(sizes, acts, seed):
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        mods.append(torch.nn.Linear(a, b, bias=bool(i % 2 == 0)))
        if i < len(sizes) - 2:
            mods.append(TORCH_ACTS[acts[i % len(acts)]]())
    seq = torch.nn.Sequential(*mods).double()
    x = torch.randn(16, sizes[0], dtype=torch.float64)
    graph = from_sequential(seq)
    np.testing.assert_allclose(interp.run(graph, x.numpy())["logits"], seq(x).detach().numpy(),
                               rtol=0, atol=1e-12)
