"""The library API (compile, open_folder, Folder.simulate/verify), the Target table, and what adding a target costs."""

import json
import re

import pytest

import compiler.targets as targets
from compiler.api import compile, open_folder
from compiler.cli import main
from errors import ConfigError
from tests.toy_target import PrintTarget


@pytest.fixture
def model(small_model):
    return small_model


def test_compile_simulate_verify_from_the_library(model, tmp_path):
    sp = compile(model, "spice", tmp_path / "sp", tile=32)
    assert sp.target.name == "spice" and sp.manifest["tiles"]["fc1"][0] == [0, 32, 0, 16]
    assert sp.simulate(limit=3, runner="subprocess")["samples"] == 3
    assert sp.verify(limit=3)["passed"]
    hw = compile(model, "fpga", tmp_path / "hw", pe=4)
    assert hw.summary()["pe"] == 4 and hw.manifest["layers"][0]["slots"] == 4
    report = open_folder(tmp_path / "hw").verify(limit=5, simulator="amaranth")
    assert report["passed"] and report["output_words"] == 50


def test_a_compiled_model_compiles_to_the_same_circuit(model, tmp_path, capsys):
    """Every number is in model.ncm: compiling it again, with no options, gives the same bytes."""
    for target, circuit, options in (("fpga", "network.v", ["--pe", "3"]), ("spice", "circuit.cir", ["--r-wire",
                                                                                                   "2"])):
        first, second = tmp_path / f"{target}1", tmp_path / f"{target}2"
        assert main(["compile", str(model), "--target", target, "-o", str(first), *options]) == 0
        assert main(["compile", str(first / "model.ncm"), "--target", target, "-o", str(second)]) == 0
        assert (first / circuit).read_bytes() == (second / circuit).read_bytes()
        assert (first / "model.ncm").read_bytes() == (second / "model.ncm").read_bytes()
    capsys.readouterr()


@pytest.mark.slow  # three compiles
def test_a_compiled_fpga_model_takes_a_new_lane_count_only(model, tmp_path, capsys):
    first = tmp_path / "a"
    assert main(["compile", str(model), "--target", "fpga", "--pe", "3", "-o", str(first)]) == 0
    assert main(["compile", str(first / "model.ncm"), "--target", "fpga", "--pe", "5", "-o", str(tmp_path / "b"),
                 "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{"):])["pe"] == 5
    assert main(["compile", str(first / "model.ncm"), "--target", "fpga", "--learn", "dfa", "-o",
                 str(tmp_path / "c")]) == 1
    assert capsys.readouterr().err == (f"error: model {json.loads((first / 'manifest.json').read_text())['model']!r} "
                                       "is already compiled for the fpga target: --learn and --weight-bits apply to a "
                                       "float model\n")


@pytest.mark.parametrize("target,options,message", [
    ("spice", {"pe": 4}, r"target 'spice' has no option 'pe': its options are tile, g_min, .*, seed"),
    ("spice", {"tile": 1}, r"--tile must be an integer in \[2, 1024\], not 1"),
    ("spice", {"g_min": 1e-3}, r"--g-min 0\.001 must be below --g-max 0\.0001"),
    ("fpga", {"pe": 0}, r"--pe must be an integer in \[1, 1024\] or auto, not 0"),
    ("verilog", {}, r"unknown target 'verilog': must be one of spice, fpga"),
])
def test_options_are_checked_by_the_library_too(model, tmp_path, target, options, message):
    with pytest.raises(ConfigError) as caught:
        compile(model, target, tmp_path / "x", **options)
    assert re.fullmatch(message, str(caught.value)), str(caught.value)
    assert not (tmp_path / "x").exists()


def test_a_flag_of_the_other_target_is_named(model, tmp_path, capsys):
    assert main(["compile", str(model), "--pe", "4", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == "error: --pe is an option of the fpga target, not of spice\n"
    sp = tmp_path / "sp"
    assert main(["compile", str(model), "-o", str(sp)]) == 0
    assert main(["simulate", str(sp), "--simulator", "amaranth"]) == 1
    assert capsys.readouterr().err.endswith("error: --simulator amaranth does not simulate spice folders: they take "
                                            "fast or ngspice\n")
    assert main(["verify", str(sp), "--learn-steps", "3"]) == 1
    assert capsys.readouterr().err.endswith("error: --learn-steps is an option of the fpga target, not of spice\n")


def test_a_third_target_is_one_module_and_one_row(model, tmp_path, capsys, monkeypatch):
    """The toy target (tests/toy_target.py) joins the table; the CLI and the API need nothing else."""
    monkeypatch.setitem(targets.TARGETS, "ir-print", PrintTarget())
    out = tmp_path / "printed"
    assert main(["compile", str(model), "--target", "ir-print", "--style", "boxed", "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "ir-print"
    assert (out / "graph.txt").read_text().startswith("+--------+\ngraph ")
    assert main(["simulate", str(out), "--limit", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 20
    assert main(["verify", str(out)]) == 0
    (out / "graph.txt").write_text("edited")
    assert main(["verify", str(out)]) == 1
    assert capsys.readouterr().err.endswith(f"error: folder '{out}': graph.txt was changed after compile; "
                                            "recompile\n")
    assert main(["compile", str(model), "--style", "boxed", "-o", str(tmp_path / "y")]) == 1
    assert capsys.readouterr().err == "error: --style is an option of the ir-print target, not of spice\n"
