"""Each rule is tested for what defines it, not only for accuracy going up."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ir import ConfigError, TrainingError
from learning.mlp import MLP
from learning.rules import get_rule
from learning.trainer import TrainConfig, train


def _net(sizes=(6, 5, 4, 3), act="tanh", seed=0):
    return MLP(list(sizes), act, torch.Generator().manual_seed(seed))


def _batch(seed=1, n=7, d=6, k=3):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g), torch.randint(0, k, (n,), generator=g)


def test_bp_updates_are_the_autograd_gradient():
    net = _net()
    x, y = _batch()
    rule = get_rule("bp")(net, {}, torch.Generator().manual_seed(0))
    rule.updates(x, y)
    got = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    for g, p in zip(got, net.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


def test_dfa_hidden_update_is_broadcast_error_times_local_derivative():
    net = _net()
    x, y = _batch()
    rule = get_rule("dfa")(net, {}, torch.Generator().manual_seed(0))
    rule.updates(x, y)
    with torch.no_grad():
        hs, acts = net.forward_cache(x)
        e = (torch.softmax(acts[-1], 1) - F.one_hot(y, 3).float()) / len(y)
    # Output layer: the error itself.
    torch.testing.assert_close(net.layers[2].weight.grad, e.T @ acts[2])
    # Hidden layers: only B_l, the broadcast error and f'(h_l); no forward weight of a later layer enters.
    for l in (0, 1):
        delta = (e @ rule.B[l].T) * (1 - torch.tanh(hs[l]) ** 2)
        torch.testing.assert_close(net.layers[l].weight.grad, delta.T @ acts[l])
        torch.testing.assert_close(net.layers[l].bias.grad, delta.sum(0))
    # Changing a later layer's weights leaves the first layer's update unchanged given the same error.
    first = net.layers[0].weight.grad.clone()
    with torch.no_grad():
        net.layers[1].weight.mul_(-3.0)
        net.layers[1].bias.zero_()
    rule2 = get_rule("dfa")(net, {}, torch.Generator().manual_seed(0))
    rule2.B = rule.B
    hs2, acts2 = net.forward_cache(x)
    e2 = (torch.softmax(acts2[-1], 1) - F.one_hot(y, 3).float()) / len(y)
    rule2.updates(x, y)
    expected = ((e2 @ rule.B[0].T) * (1 - torch.tanh(hs2[0]) ** 2)).T @ x
    torch.testing.assert_close(net.layers[0].weight.grad, expected)
    assert not torch.allclose(first, expected)  # the error changed, the rule did not


def test_dfa_feedback_is_seeded():
    a = get_rule("dfa")(_net(), {}, torch.Generator().manual_seed(5)).feedback()
    b = get_rule("dfa")(_net(), {}, torch.Generator().manual_seed(5)).feedback()
    assert [(p.target, p.source) for p in a] == [(0, 2), (1, 2)]
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p.matrix, q.matrix)
    assert a[0].matrix.shape == (5, 3) and np.abs(a[0].matrix).max() <= 1 / np.sqrt(3)


def test_unknown_rule():
    with pytest.raises(ConfigError, match=r"^unknown rule 'magic': must be one of bp, fa, dfa, pepita, pc, ep, chl, "
                                          r"ff, dtp, lra, hebbian, oja$"):
        get_rule("magic")


def test_unknown_rule_option():
    with pytest.raises(ConfigError, match=r"^rule 'dfa' has no option 'beta': its options are feedback_scale$"):
        get_rule("dfa")(_net(), {"beta": 0.1}, torch.Generator())


def test_bad_rule_option_value():
    with pytest.raises(ConfigError, match=r"^option 'feedback_scale' of rule 'dfa' must be positive, not -1\.0$"):
        get_rule("dfa")(_net(), {"feedback_scale": -1.0}, torch.Generator())


@pytest.mark.parametrize("field,value,message", [
    ("lr", -0.1, r"^learning rate must be a positive finite number, not -0\.1$"),
    ("lr", float("nan"), r"^learning rate must be a positive finite number, not nan$"),
    ("epochs", -1, r"^epochs must be a non-negative integer \(0 keeps the initial weights\), not -1$"),
    ("batch_size", 0, r"^batch size must be a positive integer, not 0$"),
    ("hidden", (64, 0), r"^hidden layer sizes must be positive integers, not \(64, 0\)$"),
    ("optimizer", "lion", r"^unknown optimizer 'lion': must be one of adam, sgd$"),
    ("activation", "gelu", r"^unknown activation 'gelu': must be one of relu, tanh, sigmoid, hardtanh, identity$"),
    ("device", "tpu", r"^unknown device 'tpu': must be auto, cpu, cuda or cuda:N$"),
])
def test_bad_config(field, value, message):
    with pytest.raises(ConfigError, match=message):
        train(TrainConfig(**{field: value}), progress=False)


def test_cuda_absent_is_clear(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device 'cuda' was asked for, but torch sees no CUDA GPU on this "
                                          r"machine$"):
        train(TrainConfig(device="cuda"), progress=False)


def test_diverging_run_stops_naming_the_epoch():
    with pytest.raises(TrainingError, match=r"^training diverged at epoch \d+: the loss is (nan|inf) \(rule 'bp', "
                                            r"learning rate 1e\+30\); try a smaller learning rate$"):
        train(TrainConfig(rule="bp", lr=1e30, optimizer="sgd", epochs=5), progress=False)


def test_same_seed_same_weights():
    a = train(TrainConfig(epochs=2, seed=3), progress=False)
    b = train(TrainConfig(epochs=2, seed=3), progress=False)
    for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
