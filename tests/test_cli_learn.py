"""On-chip learning from the command line: compile --learn, verify --learn-steps and simulate --train in Verilator."""

import json

import pytest

from compiler.cli import main


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """The digits DFA network (64-64-10) at its random starting weights."""
    path = tmp_path_factory.mktemp("learn") / "init.ncm"
    assert main(["train", "--rule", "dfa", "--epochs", "0", "-o", str(path), "--quiet"]) == 0
    return path


@pytest.fixture(scope="module")
def untrained_deep(tmp_path_factory):
    """A digits DFA network with two hidden layers (64-48-24-10) at its random starting weights."""
    path = tmp_path_factory.mktemp("learn") / "deep.ncm"
    assert main(["train", "--rule", "dfa", "--epochs", "0", "--hidden", "48", "24", "-o", str(path), "--quiet"]) == 0
    return path


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["dfa", "fa", "pepita", "ff", "oja", "hebbian"])
def test_every_weight_and_bias_of_a_deep_network_equals_the_reference_after_200_samples(untrained_deep, tmp_path,
                                                                                       capsys, rule):
    """64-48-24-10: the hidden layers learn by ``rule`` (the readout by the delta rule), every bias too."""
    out = tmp_path / rule
    assert main(["compile", str(untrained_deep), "--target", "fpga", "--learn", rule, "--pe", "4", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--learn-steps", "200", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["passed"] and r["samples"] == 200 and r["mismatched_weights"] == 0
    labels = 48 * 10 if rule == "ff" else 0  # forward-forward's label weights, after the first layer's inputs
    assert r["weights"] == 48 * (64 + 1) + 24 * (48 + 1) + 10 * (24 + 1) + labels  # each row's bias: its last column
    assert all(changed > 10 for changed in r["weights_changed_by_training"])


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["dfa", "fa", "pepita", "ff", "oja", "hebbian"])
def test_every_weight_equals_the_reference_after_200_samples_in_verilator(untrained, tmp_path, capsys, rule):
    out = tmp_path / rule
    assert main(["compile", str(untrained), "--target", "fpga", "--learn", rule, "-o", str(out), "--json"]) == 0
    compiled = json.loads(capsys.readouterr().out)
    assert compiled["learn"] == rule and compiled["warnings"] == []
    # forward-forward: the readout's update and two passes through the hidden layers, each learned from
    assert compiled["cycles_per_training_sample"] <= (5 if rule == "ff" else 3) * compiled["cycles_per_inference"]
    assert main(["verify", str(out), "--learn-steps", "200", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["passed"] and r["simulator"] == "verilator" and r["samples"] == 200
    labels = 64 * 10 if rule == "ff" else 0  # forward-forward's label weights
    assert r["weights"] == 64 * (64 + 1) + 10 * (64 + 1) + labels and r["mismatched_weights"] == 0  # biases too
    assert all(changed > 100 for changed in r["weights_changed_by_training"])  # both layers really learned
    assert r["cycles_per_training_sample"] == [compiled["cycles_per_training_sample"]]
    assert main(["verify", str(out), "--learn-steps", "3", "--simulator", "amaranth", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"]


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["dfa", "fa", "pepita", "ff", "oja", "hebbian"])
def test_onchip_training_from_random_weights_comes_within_3_points_of_the_float_rule(tmp_path, capsys, rule):
    """From the rule's own random network (Oja's has tanh hidden units, the others ReLU), on chip, against the
    float rule trained from the same start."""
    floating, untrained = tmp_path / "float.ncm", tmp_path / "init.ncm"
    assert main(["train", "--rule", rule, "-o", str(floating), "--quiet", "--json"]) == 0
    float_accuracy = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert main(["train", "--rule", rule, "--epochs", "0", "-o", str(untrained), "--quiet"]) == 0
    out = tmp_path / "hw"
    assert main(["compile", str(untrained), "--target", "fpga", "--learn", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(out), "--train", "--epochs", "5", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["initial_test_accuracy"] < 0.3 and r["test_accuracy"] >= float_accuracy - 0.03
    assert r["weights_equal_reference"] and r["test_accuracy_per_epoch"] == r["reference_test_accuracy_per_epoch"]
    assert (out / "learning.png").stat().st_size > 0


@pytest.mark.slow  # three compiles with a learning engine
def test_learning_errors_and_warnings(untrained, tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["compile", str(untrained), "--target", "fpga", "--learn", "ep", "-o", str(out)]) == 1
    assert capsys.readouterr().err == ("error: --learn ep: the fpga learning engines build dfa, fa, pepita, ff, "
                                       "hebbian, oja\n")
    assert not out.exists()
    assert main(["compile", str(untrained), "--learn", "dfa", "-o", str(out)]) == 1
    assert capsys.readouterr().err == "error: --learn is an option of the fpga target, not of spice\n"
    for learn in ([], ["--learn", "dfa"]):  # an explicit 0 is refused, not mistaken for "the default width"
        assert main(["compile", str(untrained), "--target", "fpga", "--weight-bits", "0", *learn, "-o", str(out)]) == 1
        assert capsys.readouterr().err == "error: --weight-bits must be an integer in [2, 32], not 0\n"
    assert main(["compile", str(untrained), "--target", "fpga", "--learn", "dfa", "--lr-shift", "30", "-o",
                 str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: --lr-shift 30 makes every weight update zero at these formats")
    plain = tmp_path / "plain"
    assert main(["compile", str(untrained), "--target", "fpga", "-o", str(plain)]) == 0
    capsys.readouterr()
    assert main(["simulate", str(plain), "--train"]) == 1
    assert capsys.readouterr().err == (f"error: folder {str(plain)!r} has no learning engine: compile it with --learn "
                                       "dfa|fa|pepita|ff|hebbian|oja\n")


def test_learn_alone_takes_the_models_own_rule(tmp_path, capsys):
    pepita = tmp_path / "pepita.ncm"
    assert main(["train", "--rule", "pepita", "--epochs", "0", "--hidden", "8", "-o", str(pepita), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["compile", str(pepita), "--target", "fpga", "--learn", "-o", str(tmp_path / "p"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["learn"] == "pepita"
    ep = tmp_path / "ep.ncm"
    assert main(["train", "--rule", "ep", "--epochs", "0", "--hidden", "8", "-o", str(ep), "--quiet"]) == 0
    assert main(["compile", str(ep), "--target", "fpga", "--learn", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err.endswith("error: --learn ep: the fpga learning engines build dfa, fa, pepita, ff, "
                                            "hebbian, oja\n")


def test_options_that_need_a_learning_engine_or_refuse_one(untrained, tmp_path, capsys):
    out = tmp_path / "x"
    assert main(["compile", str(untrained), "--target", "fpga", "--fixed-biases", "-o", str(out)]) == 1
    assert capsys.readouterr().err == "error: --fixed-biases applies to an on-chip learning engine: add --learn\n"
    assert main(["compile", str(untrained), "--target", "fpga", "--learn", "dfa", "--datapath", "shared", "-o",
                 str(out)]) == 1
    assert capsys.readouterr().err == ("error: --datapath shared computes inference only: an on-chip learning engine "
                                       "(--learn) needs each layer's own lanes\n")
    assert not out.exists()
