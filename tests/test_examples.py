"""The examples run on small settings."""

import importlib.util
from pathlib import Path

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
