"""On-chip learning: the reference trainer's arithmetic, the onchip-learning pass, and the learning engines in the
Amaranth simulator, bit-exact with the reference trainer."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.fpga import build_network
from backends.fpga.emit import layer_specs, learn_spec
from backends.fpga.program import Infer, ReadWeights, Train
from backends.fpga.sim import simulate_amaranth
from circuits.digital.network import period, training_period
from compiler.passes import PassManager
from compiler.passes.onchip import LearningRateWarning, OnChipLearning
from compiler.pipelines import learning_pipeline
from ir import ConfigError, VerifyError, interp
from ir.dialects import digital
from ir.interp_learn import HEBB_READOUT_BOOST, HEBB_THRESHOLD_SHIFT, Trainer, layer_rules, lfsr_signs
from tests.conftest import make_mlp_graph, mapped


def learner(sizes, acts, rule, seed=0, lr_shift=3, weight_bits=16, act_bits=8, biases=True):
    g = make_mlp_graph(list(sizes), list(acts) or ["relu"], seed=seed)
    x = np.random.default_rng(seed).uniform(0, 1, (40, sizes[0]))
    PassManager(learning_pipeline(x, rule, lr_shift, weight_bits, act_bits, biases=biases)).run(g)
    quant = g.find(digital.Quantize.kind)[0]
    codes = interp.run(g, x, keep=(quant,))[quant].astype(np.int64)
    return g, codes


def weights(g):
    """Every layer's learned weights as the weight port reads them: with learned biases, the last column."""
    from backends.fpga.run import model_weights

    return model_weights(g)


def test_lfsr_is_the_maximal_16_bit_sequence():
    signs = lfsr_signs(1, 2, 65535).ravel()
    assert signs[:4].tolist() == [1, -1, -1, -1]  # state 1 → 0xB400 → 0x5A00 → 0x2D00: output bits 1, 0, 0, 0
    assert set(np.unique(signs)) == {-1, 1}
    assert np.array_equal(signs[:65535], signs[65535:])  # period 2^16 − 1
    assert int((signs[:65535] > 0).sum()) == 32768  # a maximal sequence has one more 1 than 0s
    assert np.array_equal(lfsr_signs(0, 3, 4), lfsr_signs(1, 3, 4))  # state 0 would lock up: it becomes 1
    assert not np.array_equal(lfsr_signs(5, 3, 4), lfsr_signs(6, 3, 4))


@pytest.mark.parametrize("rule", ["dfa", "fa", "oja", "hebbian"])
def test_integer_updates_are_the_float_rule_rounded_once(rule):
    """Dequantized, every integer update equals the float rule computed from the same integer operands, to the
    weight format's rounding (plus, for Oja, the rounding of its decay term): the shifts put every format right."""
    g, codes = learner([6, 5, 4], ["relu"], rule)
    trainer = Trainer(g)
    before = weights(g)
    xs, hs = trainer.forward(codes[:1])
    trainer.step(codes[0], 2)
    learn = g.op(g.find(digital.Learn.kind)[0])
    lr = 2.0 ** -learn.lr_shift
    denses = [g.op(r.node) for r in layer_rules(g)]
    last = denses[-1]
    e = np.clip(np.floor(hs[-1][0] / 2.0 ** (last.acc_frac - learn.err_frac) + 0.5),
                -(1 << (learn.err_bits - 1)), (1 << (learn.err_bits - 1)) - 1)
    e = (e - 2.0 ** learn.err_frac * (np.arange(4) == 2)) / 2.0 ** learn.err_frac
    if rule == "hebbian":  # the readout's hinge, and its faster rate
        e = np.where(np.arange(4) == 2, np.minimum(e, 0), np.maximum(e, 0))
    for k, (rule_k, dense, w0, w1) in enumerate(zip(layer_rules(g), denses, before, weights(g), strict=True)):
        x = np.append(xs[k][0], 1 << dense.in_frac) / 2.0 ** dense.in_frac  # the biases: weights of an input 1.0
        w = w0 / 2.0 ** dense.w_frac
        step = 2.0 ** -dense.w_frac
        tolerance = step / 2
        if rule_k.kind == "delta":
            scale = 2.0 ** -rule_k.feedback_shift  # the sum carried back is rounded once by its shift
            delta = e if not rule_k.feedback else (g.params[rule_k.feedback] @ e) * scale * (hs[k][0] > 0)
            expected = -lr * 2.0 ** (HEBB_READOUT_BOOST if rule == "hebbian" else 0) * np.outer(delta, x)
            if rule_k.feedback:
                tolerance += lr * 2.0 ** -learn.err_frac / 2 * np.abs(x).max()
        else:
            out_frac = g.op(g.users(rule_k.node)[0][0]).out_frac
            y = hs[k][0] / 2.0 ** out_frac
            if rule_k.kind == "oja":  # Sanger's: the decay sums the rows up to each (each term rounded once)
                expected = lr * y[:, None] * (x[None, :] - np.cumsum(y[:, None] * w, axis=0))
                tolerance += lr * np.abs(y).max() * 2.0 ** -dense.in_frac / 2 * len(y)
            else:  # the winner's weights step towards the input (the running mean is still 0); thresholds
                expected = np.zeros_like(w)
                winner = int(np.argmax(y))
                assert y[winner] > 0
                expected[winner, :-1] = lr * (x[:-1] - w[winner, :-1])
                expected[:, -1] = np.where(y > 0, -1, 1) * 2.0 ** (-learn.lr_shift - HEBB_THRESHOLD_SHIFT)
        got = (w1 - w0) / 2.0 ** dense.w_frac
        assert np.abs(got - expected).max() <= tolerance + 1e-12, (rule, k)
        assert np.abs(expected).max() > step  # the test is not vacuous: real updates happened


@settings(max_examples=36, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=6),
       rule=st.sampled_from(["dfa", "fa", "pepita", "ff", "oja", "hebbian"]),
       act=st.sampled_from(["relu", "hardtanh", "identity"]), lanes=st.integers(1, 7), seed=st.integers(0, 999),
       lr_shift=st.integers(0, 5), weight_bits=st.sampled_from([16, 10]),
       store=st.sampled_from([None, "registers"]), shared=st.booleans(), serial=st.booleans(),
       mac_registers=st.sampled_from([0, 1, 2]), biases=st.booleans())
def test_hardware_training_is_bit_exact_with_the_reference_trainer(sizes, rule, act, lanes, seed, lr_shift,
                                                                   weight_bits, store, shared, serial,
                                                                   mac_registers, biases):
    """Hidden layers' outputs where ``place-memories`` puts them (block RAM), or all in registers; the layers'
    own multipliers, or one shared set; parallel or (where it keeps up) serial writebacks; biases learned (the
    last column the weight port reads) or fixed; one to four hidden layers (forward-forward: ReLU, with a hidden
    layer and two classes or more)."""
    if rule == "ff":
        act, sizes = "relu", [*sizes[:-1], 1, max(sizes[-1], 2)] if len(sizes) < 3 else [*sizes[:-1], max(sizes[-1], 2)]
    g, codes = learner(sizes, [act], rule, seed, lr_shift, weight_bits, biases=biases)
    labels = np.random.default_rng(seed).integers(0, sizes[-1], len(codes))[:6]
    reference = copy.deepcopy(g)
    trainer = Trainer(reference)
    predictions = [trainer.step(c, int(t)) for c, t in zip(codes[:6], labels, strict=True)]
    hardware = mapped(g, lanes, store, shared=shared, serial=serial, mac_registers=mac_registers)
    trained, read, inferred = simulate_amaranth(build_network(hardware),
                                                [Train(codes[:6], labels), ReadWeights(), Infer(codes[6:9])])
    np.testing.assert_array_equal(trained.words, np.array(predictions))
    for hw, ref in zip(read, weights(reference), strict=True):
        np.testing.assert_array_equal(hw, ref)
    np.testing.assert_array_equal(inferred.words, trainer.forward(codes[6:9])[1][-1])  # inference after training
    specs, _ = layer_specs(hardware)
    assert trained.cycles[1:] == [training_period(specs, learn_spec(g))] * 5
    assert inferred.cycles[1:] == [period(specs)] * 2


def test_saturating_updates_stay_bit_exact():
    """A huge learning rate on narrow weights drives many weights into saturation; hardware and reference agree."""
    g, codes = learner([5, 4, 3], ["relu"], "dfa", seed=3, lr_shift=0, weight_bits=10)
    labels = np.arange(8) % 3
    reference = copy.deepcopy(g)
    trainer = Trainer(reference)
    for c, t in zip(codes[:8], labels, strict=True):
        trainer.step(c, int(t))
    limit = (1 << 9) - 1
    assert any(((w == limit) | (w == -limit - 1)).sum() for w in weights(reference))
    _, read = simulate_amaranth(build_network(mapped(g, 3)), [Train(codes[:8], labels), ReadWeights()])
    for hw, ref in zip(read, weights(reference), strict=True):
        np.testing.assert_array_equal(hw, ref)


def test_a_rule_the_hardware_cannot_build_names_the_ones_it_can():
    g, _ = learner([4, 3], [], "dfa")
    with pytest.raises(ConfigError, match=r"^--learn ep: the fpga learning engines build dfa, fa, pepita, ff, hebbian, "
                                          r"oja$"):
        OnChipLearning(rule="ep").run(make_mlp_graph([4, 3], ["relu"]))
    with pytest.raises(ConfigError, match="already has a learning engine"):
        OnChipLearning(rule="dfa").run(g)


def test_a_learning_rate_that_zeroes_every_update_warns():
    with pytest.warns(LearningRateWarning, match=r"--lr-shift 30 makes every weight update zero"):
        learner([4, 3], [], "dfa", lr_shift=30)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learner([4, 3], [], "dfa", lr_shift=7)


def test_labels_must_fit_the_input_words():
    with pytest.raises(ConfigError, match=r"layer 'fc1': 10 classes do not fit the 4-bit input words"):
        learner([4, 10], [], "dfa", act_bits=4)


def test_feedback_matrices_are_checked():
    g, _ = learner([4, 5, 3], ["relu"], "dfa")
    g.params["learn.feedback0"] = g.params["learn.feedback0"] * 2
    with pytest.raises(VerifyError, match=r"feedback 'learn.feedback0' must be a matrix of ±1 integers"):
        g.verify()


def test_learning_hardware_without_train_is_the_inference_hardware():
    """With ``train`` low the learning network infers exactly as the reference, at the inference period."""
    g, codes = learner([7, 6, 4], ["relu"], "oja")
    (run,) = simulate_amaranth(build_network(mapped(g, 4)), [Infer(codes[:4])])
    last = [n for n, op in g.nodes() if isinstance(op, digital.Dense)][-1]
    np.testing.assert_array_equal(run.words, interp.run(g, codes[:4] / 2.0 ** g.op("quant").frac, keep=(last,))[last])
    specs, _ = layer_specs(mapped(g, 4))
    assert run.cycles[1:] == [period(specs)] * 3


def train_six_then_compare(g, codes, hardware):
    """Six training samples through the reference trainer and through ``hardware`` (the mapped ``g``), then
    every weight read back and two inferences: the predictions, every weight and the inferences equal, every
    layer changed by training. Returns the training step's result and the weights read."""
    labels = np.arange(6) % weights(g)[-1].shape[0]
    reference = copy.deepcopy(g)
    trainer = Trainer(reference)
    predictions = [trainer.step(c, int(t)) for c, t in zip(codes[:6], labels, strict=True)]
    trained, read, inferred = simulate_amaranth(build_network(hardware),
                                                [Train(codes[:6], labels), ReadWeights(), Infer(codes[6:8])])
    np.testing.assert_array_equal(trained.words, np.array(predictions))
    for hw, ref, start in zip(read, weights(reference), weights(g), strict=True):
        np.testing.assert_array_equal(hw, ref)
        assert (ref != start).any()
    np.testing.assert_array_equal(inferred.words, trainer.forward(codes[6:8])[1][-1])
    return trained, read


def test_pepita_deltas_are_the_difference_of_a_second_pass_on_the_modulated_input():
    """PEPITA's first hidden layer: its delta is the difference of the accumulators of two real forward passes, on
    ``x`` and on ``x' = x − p₀`` (integers, exactly), rounded to the error's format and masked by the derivative;
    the next layer's is its own weights on that (forward, never back); the last layer learns by the delta rule."""
    g, codes = learner([6, 5, 4, 3], ["relu"], "pepita", seed=4)
    trainer = Trainer(g)
    learn = g.op(g.find(digital.Learn.kind)[0])
    assert learn.feedback == ("learn.modulation", "", "") and g.params["learn.modulation"].shape == (6, 3)
    denses = trainer.denses
    for x, label in zip(codes[:10], [0, 1, 2] * 4, strict=False):
        xs, hs = trainer.forward(x[None, :])
        e = np.clip((hs[-1][0] + (1 << (denses[-1].acc_frac - learn.err_frac - 1))) >>
                    (denses[-1].acc_frac - learn.err_frac), -128, 127) - (np.arange(3) == label) * (1 << learn.err_frac)
        p0 = trainer.modulation(e)
        assert np.array_equal(p0, np.clip((g.params["learn.modulation"] @ e + 1) >> 1, -128, 127))  # shift 1: 3 outputs
        w0 = g.params[denses[0].weight].astype(np.int64)
        b0 = g.params[denses[0].bias].astype(np.int64)
        first, second = w0 @ x + b0, w0 @ (x - p0) + b0  # the two passes' accumulators
        deltas = trainer.deltas(e, hs)
        half = 1 << (denses[0].w_frac - 1)
        expected = np.clip((first - second + half) >> denses[0].w_frac, -128, 127) * (hs[0][0] > 0)
        np.testing.assert_array_equal(deltas[0], expected)
        w1 = g.params[denses[1].weight].astype(np.int64)
        np.testing.assert_array_equal(deltas[1], np.clip((w1 @ deltas[0] + half) >> denses[1].w_frac, -128, 127) *
                                      (hs[1][0] > 0))
        np.testing.assert_array_equal(deltas[2], e)
        trainer.step(x, label)
    assert any(np.abs(d).max() > 0 for d in deltas[:2])  # not vacuous: the hidden layers had deltas


@pytest.mark.parametrize("sizes, lanes, act, store, serial", [
    ((5, 6, 4, 3), 2, "relu", None, False),
    ((5, 6, 4, 5, 3), 3, "relu", None, True),
    ((4, 7, 6, 2), 4, "hardtanh", "registers", False),
])
def test_fa_carries_the_error_back_layer_by_layer_bit_exact(sizes, lanes, act, store, serial):
    """FA with two and three hidden layers: the last hidden layer's delta from the error (as DFA's), each deeper
    one's from the layer after it (a backward phase per layer, from its delta memory), every weight and bias of
    every layer changed and equal to the reference trainer's, in the stated cycles."""
    g, codes = learner(sizes, [act], "fa", seed=len(sizes))
    labels = np.arange(6) % sizes[-1]
    reference = copy.deepcopy(g)
    trainer = Trainer(reference)
    predictions = [trainer.step(c, int(t)) for c, t in zip(codes[:6], labels, strict=True)]
    hardware = mapped(g, lanes, store, serial=serial)
    trained, read = simulate_amaranth(build_network(hardware), [Train(codes[:6], labels), ReadWeights()])
    np.testing.assert_array_equal(trained.words, np.array(predictions))
    for hw, ref, start in zip(read, weights(reference), weights(g), strict=True):
        np.testing.assert_array_equal(hw, ref)
        assert (ref != start).any()
    specs, _ = layer_specs(hardware)
    engine = learn_spec(g)
    assert engine.backward_layers() == list(range(len(sizes) - 4, -1, -1))
    assert trained.cycles[1:] == [training_period(specs, engine)] * 5


def test_forward_forward_deltas_follow_the_goodness_of_each_pass():
    """Forward-forward's integer step: the readout learns by the delta rule on the unlabelled pass; each hidden
    layer's probability is ``σ(±(θ − mean h²))`` to the table's resolution, its delta ``∓p·h``; the label weights
    of the true and of the wrong label change, no other; the wrong label is the other class scored highest."""
    g, codes = learner([6, 5, 4, 3], ["relu"], "ff", seed=2, lr_shift=1)
    learn = g.op(g.find(digital.Learn.kind)[0])
    assert learn.labels == "learn.labels" and len(learn.goodness) == 2 and learn.feedback == ("", "", "")
    trainer = Trainer(g)
    wrong = []
    for x, label in zip(codes[:8], [0, 1, 2, 0, 1, 2, 0, 1], strict=True):
        labels_before = g.params["learn.labels"].copy()
        _, positive = trainer.forward(x[None, :], label)
        for k, rule in enumerate(layer_rules(g)[:-1]):
            h = positive[k][0]
            mean = float(((h / 2.0 ** rule.out_frac) ** 2).mean())
            p = -trainer.goodness_delta(k, h, True)
            step_size = 2.0 ** learn.goodness[k][1] / (len(h) << (2 * rule.out_frac))  # one index, in the mean
            expected = 64 / (1 + np.exp(-np.clip(2.0 - mean, -32 * step_size, 31 * step_size)))
            nonzero = h != 0
            if nonzero.any():
                ratio = p[nonzero] / h[nonzero]
                assert np.all(ratio == ratio[0]) and abs(ratio[0] - expected) <= 64 * step_size / 4 + 0.5
        scores = trainer.forward(x[None, :])[1][-1][0].astype(float)
        scores[label] = -np.inf
        wrong.append(int(np.argmax(scores)))
        trainer.step(x, label)
        changed = np.flatnonzero((g.params["learn.labels"] != labels_before).any(axis=0))
        assert wrong[-1] != label and set(changed.tolist()) <= {label, wrong[-1]}
    assert len(set(wrong)) > 1 and np.abs(g.params["learn.labels"]).max() > 0


@pytest.mark.parametrize("sizes, lanes, act, store, serial, shared", [
    ((5, 6, 3), 1, "relu", None, False, False),
    ((5, 6, 4, 3), 2, "relu", None, False, True),
    ((5, 6, 4, 5, 3), 3, "relu", None, True, False),
    ((4, 7, 6, 2), 4, "hardtanh", "registers", False, False),
])
def test_pepita_runs_its_second_pass_forward_bit_exact(sizes, lanes, act, store, serial, shared):
    """PEPITA with one to three hidden layers: the delta phase modulates the input, each hidden layer runs a
    perturbation pass (its inputs the modulation or the previous layer's results, no bias), then every layer
    updates; every weight and bias changed and equals the reference trainer's, in the stated cycles."""
    g, codes = learner(sizes, [act], "pepita", seed=len(sizes))
    hardware = mapped(g, lanes, store, serial=serial, shared=shared)
    trained, _ = train_six_then_compare(g, codes, hardware)
    specs, _ = layer_specs(hardware)
    engine = learn_spec(g)
    assert engine.perturbs and engine.delta_cycles == sizes[0] + 2
    passes = sum(s.cycles for s in specs[:-1])
    assert trained.cycles[1:] == [training_period(specs, engine)] * 5
    assert training_period(specs, engine) == period(specs) + 2 + sizes[0] + 2 + passes + max(s.cycles for s in specs)


@pytest.mark.parametrize("sizes, lanes, store, serial, shared", [
    ((5, 6, 3), 1, None, False, False),
    ((5, 6, 4, 3), 2, None, False, True),
    ((5, 6, 4, 5, 3), 3, None, True, False),
    ((4, 7, 6, 2), 4, "registers", False, False),
])
def test_forward_forward_runs_positive_and_negative_passes_bit_exact(sizes, lanes, store, serial, shared):
    """Forward-forward with one to three hidden layers: the readout's update on the unlabelled pass, then a
    positive and a negative pass through the hidden layers with the label as inputs, each measured, weighed and
    learned from; every weight, label weight and bias changed and equals the reference trainer's, in the stated
    cycles; inference afterwards is the unlabelled network's."""
    g, codes = learner(sizes, ["relu"], "ff", seed=len(sizes), lr_shift=1)
    hardware = mapped(g, lanes, store, serial=serial, shared=shared)
    trained, read = train_six_then_compare(g, codes, hardware)
    assert read[0].shape[1] == sizes[0] + sizes[-1] + 1  # the inputs', the labels' and the bias's weights
    specs, _ = layer_specs(hardware)
    engine = learn_spec(g)
    hidden = specs[:-1]
    rows = max(s.n_out for s in hidden) + 1
    assert trained.cycles[1:] == [training_period(specs, engine)] * 5
    assert training_period(specs, engine) == period(specs) + 1 + max(specs[-1].cycles, sizes[-1] + 2) + 2 * (
        sum(s.cycles for s in hidden) + 2 * rows + 2 + max(s.cycles for s in hidden))


def test_forward_forward_needs_relu_hidden_layers_and_a_hidden_layer():
    from ir import UnsupportedOpError

    with pytest.raises(UnsupportedOpError, match=r"forward-forward on chip needs ReLU hidden layers .*not 'hardtanh'"):
        learner([4, 5, 3], ["hardtanh"], "ff")
    with pytest.raises(UnsupportedOpError, match=r"needs a hidden layer and two classes or more .* not 0 and 3$"):
        learner([4, 3], [], "ff")
