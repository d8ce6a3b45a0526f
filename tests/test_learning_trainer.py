"""Whole-test-set checks of the foundation: accuracy of BP and DFA, and the reference against torch."""

import numpy as np
import pytest
import torch

import ir
from compiler.evaluate import reference_accuracy
from compiler.frontend import from_trained
from ir import interp
from learning.trainer import TrainConfig, train

pytestmark = pytest.mark.slow  # whole training runs (shared with other modules through default_run)


@pytest.fixture(params=["bp", "dfa"])
def trained(request, default_run):
    return default_run(request.param)


def test_default_reaches_95_percent_on_digits(trained):
    assert trained.test_accuracy >= 0.95, trained.history[-1]


def test_interp_reproduces_torch_on_whole_test_set(trained, tmp_path):
    path = tmp_path / "m.ncm"
    ir.save(from_trained(trained), path)
    graph = ir.load(path)
    x = trained.dataset.x_test.astype(np.float64)
    ref = interp.run(graph, x)["logits"]
    with torch.no_grad():
        expected = trained.net.double()(torch.from_numpy(x)).numpy()
    trained.net.float()
    assert ref.shape == (360, 10)
    np.testing.assert_allclose(ref, expected, rtol=0, atol=1e-9)
    result = reference_accuracy(graph, trained.dataset)
    assert result.accuracy == pytest.approx(trained.test_accuracy, abs=1 / 360)


def test_history_is_recorded(trained):
    assert [h.epoch for h in trained.history] == list(range(1, 41))
    assert trained.history[-1].loss < trained.history[0].loss


@pytest.mark.slow
def test_dfa_learns_fashion_mnist_in_two_epochs():
    result = train(TrainConfig(rule="dfa", dataset="fashion-mnist", hidden=(256,), epochs=2, batch_size=64),
                   progress=False)
    assert result.test_accuracy >= 0.80, result.history
