import json

import pytest

from compiler.cli import main


@pytest.fixture
def model(small_model):
    return small_model


@pytest.mark.slow  # a training run and matplotlib
def test_train_json_and_plot(tmp_path, capsys):
    out, plot = tmp_path / "m.ncm", tmp_path / "curves.png"
    assert main(["train", "--rule", "bp", "--epochs", "2", "--hidden", "8", "-o", str(out), "--plot", str(plot),
                 "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rule"] == "bp" and report["dataset"] == "digits" and report["epochs"] == 2
    assert 0.0 <= report["test_accuracy"] <= 1.0
    assert out.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inspect_prints_ir(model, capsys):
    assert main(["inspect", str(model)]) == 0
    text = capsys.readouterr().out
    assert text.startswith('graph "digits-dfa" {\n  %x = nn.input()')
    assert '%feedback1 = learn.feedback() {target="fc1", source="fc2", matrix="fc1.feedback", bias=none}' in text


def test_inspect_json(model, capsys):
    assert main(["inspect", str(model), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == 1 and [n["kind"] for n in doc["nodes"]][:2] == ["nn.input", "nn.dense"]
    assert {p["name"] for p in doc["params"]} >= {"fc1.weight", "fc1.feedback"}


def test_eval_json(model, capsys):
    assert main(["eval", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "digits" and report["samples"] == 360
    assert report["reference_accuracy"] == pytest.approx(report["trained_test_accuracy"], abs=1 / 360)
    assert report["weight_bits"] == 8 and 0.0 <= report["quantized_accuracy"] <= 1.0


@pytest.mark.parametrize("argv,message", [
    (["train", "--rule", "magic", "-o", "{tmp}/m.ncm"],
     r"unknown rule 'magic': must be one of bp, fa, dfa, pepita, pc, ep, chl, ff, dtp, lra, hebbian, oja"),
    (["train", "--rule", "ep", "--set", "beta=0", "-o", "{tmp}/m.ncm"],
     r"option 'beta' of rule 'ep' must be positive, not 0\.0"),
    (["train", "--rule", "pc", "--set", "steps=0", "-o", "{tmp}/m.ncm"],
     r"option 'steps' of rule 'pc' must be positive, not 0"),
    (["train", "--dataset", "cifar", "-o", "{tmp}/m.ncm"],
     r"unknown data set 'cifar': must be one of digits, fashion-mnist"),
    (["train", "--lr", "-1", "-o", "{tmp}/m.ncm"], r"--lr must be positive, not -1"),
    (["train", "--set", "noequals", "-o", "{tmp}/m.ncm"], r"option 'noequals' must be written key=value"),
    (["eval", "{tmp}/none.ncm"], r"model file '{tmp}/none\.ncm' does not exist"),
    (["inspect", "{tmp}/none.ncm"], r"model file '{tmp}/none\.ncm' does not exist"),
])
def test_errors_are_one_line_and_exit_1(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    import re

    assert re.fullmatch("error: " + message.replace("{tmp}", re.escape(str(tmp_path))) + "\n", err), err
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_eval_on_wrong_dataset(model, capsys):
    assert main(["eval", str(model), "--dataset", "fashion-mnist"]) == 1
    assert capsys.readouterr().err == ("error: model 'digits-dfa' takes inputs of shape (64,), but data set "
                                       "'fashion-mnist' has 784 features\n")


def test_truncated_model_via_cli(model, tmp_path, capsys):
    bad = tmp_path / "bad.ncm"
    bad.write_bytes(model.read_bytes()[:100])
    assert main(["eval", str(bad)]) == 1
    assert capsys.readouterr().err == (f"error: model file '{bad}' is truncated or corrupted: it is not a "
                                       "readable zip archive\n")


@pytest.mark.slow  # a fresh interpreter
def test_console_script_runs(model):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "eval", str(model), "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["samples"] == 360


def test_rules_lists_every_rule(capsys):
    from learning.rules import RULES

    assert main(["rules", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report) == sorted(RULES)
    assert report["ep"]["options"]["beta"] == 0.1 and report["oja"]["supervised"] is False
    assert main(["rules"]) == 0
    assert capsys.readouterr().out.startswith("bp       ")


@pytest.mark.slow  # twelve training runs
@pytest.mark.parametrize("rule", ["bp", "fa", "dfa", "pepita", "pc", "ep", "chl", "ff", "dtp", "lra", "hebbian",
                                  "oja"])
def test_train_every_rule_from_the_cli(rule, tmp_path, capsys):
    path = tmp_path / f"{rule}.ncm"
    assert main(["train", "--rule", rule, "--epochs", "5", "--hidden", "32", "-o", str(path), "--json",
                 "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] > 0.4  # well above chance (0.1) already
    assert main(["eval", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 360


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("spice") / "dfa.ncm"
    assert main(["train", "--rule", "dfa", "--epochs", "20", "-o", str(path), "--quiet"]) == 0
    return path


@pytest.mark.slow
def test_compile_simulate_verify_spice(digits_model, tmp_path, capsys):
    out = tmp_path / "sp"
    assert main(["compile", str(digits_model), "--target", "spice", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tiles"]["fc1"] == [[0, 64, 0, 64], [64, 65, 0, 64]]  # 64 inputs + the bias row: two row tiles
    assert (out / "conductances.png").is_file() and (out / "source.ncm").is_file()
    assert main(["simulate", str(out), "--limit", "30", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 30
    assert main(["verify", str(out), "--limit", "30", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["passed"] and r["linear_max_rel_error"] <= 1e-6 and (out / "verify.png").is_file()


@pytest.mark.slow
def test_verify_whole_digits_test_set_fast_judged_by_ngspice(digits_model, tmp_path, capsys):
    out = tmp_path / "sp"
    assert main(["compile", str(digits_model), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["samples"] == 360 and r["passed"] and r["simulator"] == "fast"
    n = r["ngspice"]  # 32 inputs spread over the set, by default
    assert n["samples"] == 32 and n["decision_agreement"] == 1.0 and n["output_max_rel_error"] <= 1e-9, n
    assert r["decision_agreement_with_float"] >= 0.99
    assert abs(r["circuit_accuracy"] - r["float_accuracy"]) <= 0.01


@pytest.mark.slow
def test_verify_whole_test_set_of_64x64_tiles_with_1_ohm_wires(digits_model, tmp_path, capsys):
    """The issue's case: ngspice takes about 15 s an input here; the fast simulator does the whole test set, and
    ngspice the sampled inputs, with the same decisions."""
    out = tmp_path / "wired"
    assert main(["compile", str(digits_model), "-o", str(out), "--r-wire", "1", "--r-source", "10",
                 "--r-sense", "10"]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--spice-sample", "3", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["samples"] == 360 and r["linear_max_rel_error"] <= 1e-6 and r["passed"]
    assert r["ngspice"]["samples"] == 3 and r["ngspice"]["decision_agreement"] == 1.0


@pytest.mark.parametrize("argv,message", [
    (["--g-min", "1e-4", "--g-max", "1e-6"], r"--g-min 0\.0001 must be below --g-max 1e-06"),
    (["--tile", "1"], r"--tile must be an integer in \[2, 1024\], not 1"),
    (["--target", "verilog"], r"--target must be one of spice, fpga, not verilog"),
    (["--device", "memristor"], r"--device must be one of linear, sinh, cubic, not memristor"),
    (["--device", "sinh", "--device-v0", "0"], r"--device-v0 must be positive, not 0"),
    (["--selector-g=-1e-5"], r"--selector-g must be zero or positive, not -1e-5"),
])
def test_compile_errors(digits_model, tmp_path, capsys, argv, message):
    import re

    out = tmp_path / "sp"
    assert main(["compile", str(digits_model), "-o", str(out), *argv]) == 1
    assert re.fullmatch("error: " + message + "\n", capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.slow
def test_compile_and_verify_fpga(digits_model, tmp_path, capsys):
    out = tmp_path / "fpga"
    assert main(["compile", str(digits_model), "--target", "fpga", "--pe", "8", "-o", str(out), "--json"]) == 0
    compiled = json.loads(capsys.readouterr().out)
    # 64-64-10 on 8 lanes: 8 groups of 64 inputs, then 2 rows × 4 input segments for the 10 outputs (MAC bound
    # 592); each layer's serial writeback drains its last group one output per cycle (7 and 1 cycles more)
    assert compiled["cycles_per_inference"] == (8 * 64 + 5 + 7) + (5 * 16 + 5 + 1) + 1 == 611
    assert main(["verify", str(out), "--limit", "10", "--json", "--quiet", "--simulator", "amaranth"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["passed"] and r["output_words"] == 100 and r["cycles_per_inference"] == [611]
    assert r["latency_cycles"] == compiled["latency_cycles"] == 64 + 610 + 1 + 10
    assert main(["verify", str(out), "--json", "--quiet"]) == 0  # the whole test set in Verilator
    r = json.loads(capsys.readouterr().out)
    assert r["passed"] and r["simulator"] == "verilator" and r["output_words"] == 3600
    assert main(["compile", str(digits_model), "--target", "fpga", "--pe", "0", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == "error: --pe must be an integer in [1, 1024] or auto, not 0\n"
