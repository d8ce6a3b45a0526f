"""The examples run on small settings."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # whole training runs and Verilator builds

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_dfa_digits_example(tmp_path):
    report = _load("train_dfa_digits").main(["--epochs", "3", "--out", str(tmp_path)])
    assert (tmp_path / "digits-dfa.ncm").is_file()
    assert report["max_abs_difference"] < 1e-9
    assert abs(report["reference_test_accuracy"] - report["torch_test_accuracy"]) <= 1 / 360


def test_compile_and_verify_example(tmp_path):
    report = _load("compile_and_verify").main(["--epochs", "2", "--out", str(tmp_path), "--limit", "3"])
    assert report["spice"]["passed"] and report["fpga"]["passed"]
    assert report["spice"]["ngspice_output_max_rel_error"] <= 1e-9
    assert report["fpga"]["cycles_per_inference"] == [611] and (tmp_path / "spice-verify.png").is_file()
