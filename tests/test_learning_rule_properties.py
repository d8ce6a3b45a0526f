"""Each local rule tested for the property that defines it (tiny networks, float64, exact where theory says so)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ir
from compiler.frontend import from_trained
from ir import ConfigError
from learning.mlp import MLP
from learning.rules import RULES, get_rule
from learning.trainer import TrainConfig, train


def net64(sizes=(6, 5, 4, 3), act="tanh", seed=0) -> MLP:
    return MLP(list(sizes), act, torch.Generator().manual_seed(seed)).double()


def batch64(seed=1, n=7, d=6, k=3):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


def make(rule: str, net: MLP, seed: int = 0, **options):
    return get_rule(rule)(net, options, torch.Generator().manual_seed(seed))


def grads(net: MLP) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in net.parameters()]


def bp_grads(net: MLP, x, y) -> list[torch.Tensor]:
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    out = grads(net)
    net.zero_grad()
    return out


def rel_err(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = math.sqrt(sum(float(((p - q) ** 2).sum()) for p, q in zip(a, b, strict=True)))
    return num / math.sqrt(sum(float((q ** 2).sum()) for q in b))


def test_fa_with_transposed_forward_weights_is_exactly_backprop():
    net = net64()
    x, y = batch64()
    rule = make("fa", net)
    rule.B = [None] + [layer.weight.detach().clone() for layer in net.layers[1:]]
    rule.updates(x, y)
    for got, want in zip(grads(net), bp_grads(net, x, y), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-15)


def test_fa_with_random_feedback_is_not_backprop():
    net = net64()
    x, y = batch64()
    make("fa", net).updates(x, y)
    assert rel_err(grads(net)[:2], bp_grads(net, x, y)[:2]) > 0.1


@pytest.mark.parametrize("symmetric", [True, False])
def test_ep_update_approaches_backprop_as_beta_goes_to_zero(symmetric):
    net = net64(act="sigmoid")
    x, y = batch64()
    want = bp_grads(net, x, y)
    errors = []
    for beta in (0.5, 0.05, 0.005):
        make("ep", net, beta=beta, steps=400, gamma=0.5, symmetric=symmetric).updates(x, y)
        errors.append(rel_err(grads(net), want))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < (1e-4 if symmetric else 1e-2), errors
    if symmetric:  # symmetric nudging cancels the first-order bias: error O(β²)
        assert errors[1] / errors[2] > 50, errors


def test_pc_with_fixed_prediction_is_exactly_backprop():
    net = net64()
    x, y = batch64()
    make("pc", net, fixed_prediction=True, gamma=1.0, steps=len(net.layers) - 1).updates(x, y)
    for got, want in zip(grads(net), bp_grads(net, x, y), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-15)


def test_pc_relaxation_lowers_the_energy_and_its_errors_are_local():
    from learning.rules import energy

    net = net64()
    x, y = batch64()
    @torch.no_grad()
    def total(state):
        return sum(0.5 * float((e ** 2).sum()) for e in state.eps[:-1]) + float(
            F.cross_entropy(net.layers[-1](state.acts[-1]), y, reduction="sum"))
    net.requires_grad_(False)
    free = energy.relax(net, x, y, 1.0, 0, 0.2)
    relaxed = energy.relax(net, x, y, 1.0, 30, 0.2)
    assert total(relaxed) < total(free)
    assert all(float(e.abs().max()) == 0.0 for e in free.eps[:-1])  # the free state is the feed-forward pass


def test_chl_is_the_clamped_minus_free_contrast_and_equals_pc_on_this_energy():
    net = net64()
    x, y = batch64()
    make("chl", net).updates(x, y)
    chl = grads(net)
    make("pc", net).updates(x, y)
    for a, b in zip(chl, grads(net), strict=True):
        torch.testing.assert_close(a, b)


def test_dfa_hidden_update_uses_only_broadcast_error_and_local_derivative():
    net = net64()
    x, y = batch64()
    rule = make("dfa", net)
    rule.updates(x, y)
    hs, acts = net.forward_cache(x)
    e = torch.softmax(acts[-1], 1) - F.one_hot(y, 3).double()
    n = len(y)
    torch.testing.assert_close(net.layers[2].weight.grad, e.T @ acts[2] / n)
    for l in (0, 1):
        delta = (e @ rule.B[l].T) * (1 - torch.tanh(hs[l]) ** 2)
        torch.testing.assert_close(net.layers[l].weight.grad, delta.T @ acts[l] / n)
        torch.testing.assert_close(net.layers[l].bias.grad, delta.sum(0) / n)


def test_pepita_uses_two_forward_passes_and_no_backward_weights():
    net = net64()
    x, y = batch64()
    rule = make("pepita", net)
    rule.updates(x, y)
    _, acts = net.forward_cache(x)
    e = torch.softmax(acts[-1], 1) - F.one_hot(y, 3).double()
    _, mod = net.forward_cache(x + e @ rule.F.T)
    n = len(y)
    torch.testing.assert_close(net.layers[0].weight.grad, (acts[1] - mod[1]).T @ mod[0] / n)
    torch.testing.assert_close(net.layers[1].weight.grad, (acts[2] - mod[2]).T @ mod[1] / n)
    torch.testing.assert_close(net.layers[2].weight.grad, e.T @ mod[2] / n)


def test_lra_targets_pass_through_the_nonlinearity_and_tend_to_fa_for_small_beta():
    net = net64(act="relu")
    x, y = batch64()
    lra = make("lra", net, beta=0.5)
    lra.updates(x, y)
    hs, acts = net.forward_cache(x)
    e = torch.softmax(acts[-1], 1) - F.one_hot(y, 3).double()
    target = torch.relu(hs[1] - 0.5 * (e @ lra.E[2]))
    d = (acts[2] - target) / 0.5
    torch.testing.assert_close(net.layers[1].weight.grad, d.T @ acts[1] / len(y))
    fa = make("fa", net)
    fa.B = lra.E
    fa.updates(x, y)
    want = grads(net)
    small = make("lra", net, beta=1e-7)
    small.E = lra.E
    small.updates(x, y)
    assert rel_err(grads(net), want) < 1e-5


def test_dtp_targets_use_the_difference_correction_and_inverses_learn():
    net = net64()
    x, y = batch64(n=64)
    rule = make("dtp", net, noise=0.0)
    hs, acts = net.forward_cache(x)
    _, e = rule.output_error(acts[-1], y)
    t3 = acts[3] - rule.opts["target_step"] * e
    t2 = acts[2] + (rule.inverse(2, t3)[0] - rule.inverse(2, acts[3])[0])
    rule.updates(x, y)
    delta = (acts[2] - t2) * (1 - torch.tanh(hs[1]) ** 2)
    torch.testing.assert_close(net.layers[1].weight.grad, delta.T @ acts[1] / len(y))
    # The inverse of the last layer learns to reconstruct its input.
    opt = torch.optim.Adam(rule.extra_parameters(), lr=1e-2)
    @torch.no_grad()
    def rec():
        return float(((rule.inverse(2, acts[3])[0] - acts[2]) ** 2).mean())
    before = rec()
    for _ in range(300):
        rule.updates(x, y)
        opt.step()
    assert rec() < 0.5 * before


def _ff_setup():
    from learning.datasets import load_dataset

    data = load_dataset("digits")
    x = torch.from_numpy(data.x_train[:256]).double()
    y = torch.from_numpy(data.y_train[:256])
    net = MLP([64, 32, 16, 10], "relu", torch.Generator().manual_seed(0)).double()
    return x, y, (y + 1) % 10, net, make("ff", net, threshold=0.5)


@pytest.mark.parametrize("positive", [True, False])
def test_ff_step_raises_positive_and_lowers_negative_goodness_in_every_layer(positive):
    x, y, y_neg, net, rule = _ff_setup()
    labels = y if positive else y_neg
    with torch.no_grad():
        before = [float(g.mean()) for g in rule.goodness(x, labels)]
        params = [p for layer in net.layers[:-1] for p in (layer.weight, layer.bias)] + [rule.U]
        for p, g in zip(params, rule.phase_grads(x, labels, positive), strict=True):
            p -= 0.05 * g
        after = [float(g.mean()) for g in rule.goodness(x, labels)]
    for b, a in zip(before, after, strict=True):
        assert (a > b) if positive else (a < b), (before, after)


def test_ff_training_separates_positive_from_negative_goodness():
    x, y, y_neg, net, rule = _ff_setup()
    opt = torch.optim.Adam(list(net.parameters()) + rule.extra_parameters(), lr=3e-3)
    for _ in range(300):
        rule.updates(x, y)
        opt.step()
    with torch.no_grad():
        pos, neg = rule.goodness(x, y)[0], rule.goodness(x, y_neg)[0]
    assert float((pos > neg).double().mean()) > 0.9  # chance is 0.5
    assert float(pos.mean()) > 0.5


def test_ff_hard_negatives_are_wrong_and_follow_the_readouts_belief():
    net = MLP([6, 5, 4], "relu", torch.Generator().manual_seed(0))
    rule = make("ff", net)
    y = torch.zeros(20000, dtype=torch.long)
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.05, 0.05]])).repeat(len(y), 1)
    neg = rule.negative_labels(y, logits)
    freq = torch.bincount(neg, minlength=4).double() / len(y)
    assert freq[0] == 0.0
    torch.testing.assert_close(freq[1:], torch.tensor([2 / 3, 1 / 6, 1 / 6], dtype=torch.float64), atol=0.015, rtol=0)
    uniform = make("ff", net, hard_negatives=False).negative_labels(y, logits)
    assert uniform.min() >= 1 and abs(float((uniform == 1).double().mean()) - 1 / 3) < 0.015


def test_ff_unlabelled_network_is_the_neutral_label_network():
    net = MLP([6, 5, 3], "relu", torch.Generator().manual_seed(0)).double()
    rule = make("ff", net)
    x, _ = batch64()
    neutral = torch.full((len(x), 3), 1 / 3, dtype=torch.float64)
    h = net.layers[0](x) + (neutral - 1 / 3) @ rule.U.T  # the label term vanishes for the neutral label
    torch.testing.assert_close(net.forward_cache(x)[0][0], h)


def test_oja_converges_to_the_first_principal_component():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    cov = q @ np.diag([4.0, 1.0, 0.5, 0.1]) @ q.T
    data = torch.from_numpy(rng.multivariate_normal(np.zeros(4), cov, size=20000))
    net = MLP([4, 1, 2], "identity", torch.Generator().manual_seed(0)).double()
    rule = make("oja", net)
    with torch.no_grad():
        for i in range(0, len(data), 20):
            net.layers[0].weight += 0.01 * rule.hebb(0, data[i:i + 20])
    w = net.layers[0].weight.detach().numpy()[0]
    assert abs(np.linalg.norm(w) - 1.0) < 0.05
    assert abs(w @ q[:, 0]) / np.linalg.norm(w) > 0.99


def test_sanger_rule_finds_the_leading_components_in_order():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    data = torch.from_numpy(rng.multivariate_normal(np.zeros(5), q @ np.diag([5, 2, 0.5, 0.2, 0.1]) @ q.T,
                                                    size=40000))
    net = MLP([5, 2, 2], "identity", torch.Generator().manual_seed(0)).double()
    rule = make("oja", net)
    with torch.no_grad():
        for i in range(0, len(data), 20):
            net.layers[0].weight += 0.005 * rule.hebb(0, data[i:i + 20])
    w = net.layers[0].weight.detach().numpy()
    assert abs(w[0] @ q[:, 0]) > 0.98 and abs(w[1] @ q[:, 1]) > 0.95


def test_competitive_hebbian_units_become_prototypes():
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0]])
    data = torch.from_numpy(np.concatenate([c + 0.2 * rng.standard_normal((2000, 2)) for c in centers]))
    data = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))]
    net = MLP([2, 2, 2], "relu", torch.Generator().manual_seed(0)).double()
    rule = make("hebbian", net)
    with torch.no_grad():
        for i in range(0, len(data), 10):
            net.layers[0].weight += 0.05 * rule.hebb(0, data[i:i + 10])
    w = net.layers[0].weight.detach().numpy()
    got = w[np.argsort(w[:, 0])]
    np.testing.assert_allclose(got, centers[::-1], atol=0.15)


@pytest.mark.parametrize("rule", [r for r in RULES if r != "bp"])
def test_no_rule_but_backprop_calls_autograd(rule, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"rule {rule!r} called autograd")

    monkeypatch.setattr(torch.autograd, "grad", forbidden)
    monkeypatch.setattr(torch.autograd, "backward", forbidden)
    monkeypatch.setattr(torch.Tensor, "backward", forbidden)
    net = MLP([6, 5, 4, 3], "relu", torch.Generator().manual_seed(0))
    x, y = batch64()
    r = get_rule(rule)(net, {}, torch.Generator().manual_seed(0))
    loss = r.updates(x.float(), y)
    assert math.isfinite(float(loss))
    assert all(p.grad is not None for p in net.layers[-1].parameters())
    assert not loss.requires_grad


@pytest.mark.parametrize("rule", list(RULES))
def test_every_rule_records_itself_in_the_learn_dialect(rule, tmp_path):
    result = train(TrainConfig(rule=rule, hidden=(8, 6), epochs=1), progress=False)
    graph = from_trained(result)
    ir.save(graph, tmp_path / "m.ncm")
    graph = ir.load(tmp_path / "m.ncm")
    op = graph.op("rule")
    hyper = op.hyper_dict()
    assert op.rule == rule and hyper["epochs"] == 1 and set(get_rule(rule).options) <= set(hyper)
    feedback = {graph.op(n).target: graph.op(n) for n in graph.find("learn.feedback")}
    expected = {"fa": {"fc1", "fc2"}, "dfa": {"fc1", "fc2"}, "lra": {"fc1", "fc2"}, "dtp": {"fc1", "fc2"},
                "pepita": {"x"}}.get(rule, set())
    assert set(feedback) == expected
    if rule == "dtp":
        assert feedback["fc1"].bias == "fc1.feedback_bias"


@pytest.mark.parametrize("rule,options,message", [
    ("pc", {"steps": 0}, r"^option 'steps' of rule 'pc' must be positive, not 0$"),
    ("ep", {"beta": 0.0}, r"^option 'beta' of rule 'ep' must be positive, not 0\.0$"),
    ("ep", {"steps": 2.5}, r"^option 'steps' of rule 'ep' must be an integer, not 2\.5$"),
    ("ep", {"symmetric": 1}, r"^option 'symmetric' of rule 'ep' must be true or false, not 1$"),
    ("ff", {"threshold": -1.0}, r"^option 'threshold' of rule 'ff' must be positive, not -1\.0$"),
    ("dtp", {"noise": -0.1}, r"^option 'noise' of rule 'dtp' must be zero or positive, not -0\.1$"),
    ("lra", {"beta": float("inf")}, r"^option 'beta' of rule 'lra' must be a finite number, not inf$"),
])
def test_bad_hyper_parameters(rule, options, message):
    with pytest.raises(ConfigError, match=message):
        get_rule(rule)(net64(), options, torch.Generator())


SUPERVISED = [r for r, cls in RULES.items() if cls.supervised]


@pytest.mark.slow
@pytest.mark.parametrize("rule", SUPERVISED)
def test_supervised_rule_defaults_reach_93_percent_on_digits(rule, default_run):
    acc = default_run(rule).test_accuracy
    assert acc >= 0.93, (rule, acc)
    assert acc >= default_run("bp").test_accuracy - 0.03, (rule, acc)


@pytest.mark.slow
@pytest.mark.parametrize("rule", [r for r, cls in RULES.items() if not cls.supervised])
def test_unsupervised_features_beat_chance_by_far(rule, default_run):
    assert default_run(rule).test_accuracy >= 0.85
