"""``neurocc build``: board folders fitted before any tool runs, bitstreams from the real tools (yosys,
nextpnr-ice40, icepack), the report, and one-line errors for every way a build can go wrong."""

import json
import os
import re
import stat
from pathlib import Path

import pytest

from backends.fpga.boards import BOARDS, ICE40
from backends.fpga.emit import layer_specs, learn_spec
from backends.fpga.pll import Ice40Pll
from backends.fpga.resources import memory_blocks, multiplier_cells, needs
from compiler.api import compile, open_folder
from compiler.cli import main
from compiler.passes.fit_device import FitDevice
from tests.test_backend_fpga import quantized


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 5-6-3 fixed-point network compiled for the fpga target on 2 lanes (builds in seconds)."""
    g, _ = quantized((5, 6, 3), ("relu",), 3)
    out = tmp_path_factory.mktemp("tiny") / "hw"
    compile(g, "fpga", out, pe=2)
    return out


def test_the_estimates_follow_the_ice40_shapes():
    assert memory_blocks(ICE40, 4096, 8) == 8 and memory_blocks(ICE40, 80, 8) == 1
    assert memory_blocks(ICE40, 512, 16) == 2 and memory_blocks(ICE40, 100, 19) == 2
    assert multiplier_cells(ICE40, 8, 8) == 1 and multiplier_cells(ICE40, 4, 4) == 0
    assert multiplier_cells(ICE40, 24, 8) == 2


def test_a_design_that_does_not_fit_names_the_resource_and_a_lane_count_that_fits(small_model, tmp_path, capsys):
    out = tmp_path / "hw"
    # the iCE40's shared datapath: a multiply-accumulate cell per lane, 16 of them at --pe 16
    assert main(["compile", str(small_model), "--target", "fpga", "--pe", "16", "--board", "icebreaker",
                 "-o", str(out)]) == 1
    assert capsys.readouterr().err == ("error: the design at --pe 16 needs 16 ICESTORM_DSP, the iCE40UP5K-SG48 on "
                                       "icebreaker has 8; --pe 8 fits (187 cycles per inference)\n")
    # a datapath per layer: the layers already share one set of multipliers (16 lanes: 16 of them); without
    # sharing 8 lanes need 16
    assert main(["compile", str(small_model), "--target", "fpga", "--pe", "16", "--board", "icebreaker",
                 "--datapath", "layer", "-o", str(out)]) == 1
    assert capsys.readouterr().err == ("error: the design at --pe 16 needs 16 ICESTORM_DSP, the iCE40UP5K-SG48 on "
                                       "icebreaker has 8; --pe 9 fits (163 cycles per inference)\n")
    assert not out.exists()


def test_pe_auto_picks_the_fastest_mapping_that_fits(small_model, tmp_path, capsys):
    assert main(["compile", str(small_model), "--target", "fpga", "--board", "icebreaker", "-o",
                 str(tmp_path / "hw"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the shared datapath: 8 lanes, one multiply-accumulate cell each (the UP5K has 8), 2 groups of 65 cycles for
    # the 64-16 layer and one of 17 for the 16-10 layer
    assert report["pe"] == 8 and report["multipliers"] == 8 and report["cycles_per_inference"] == 187
    assert main(["compile", str(small_model), "--target", "fpga", "--board", "icebreaker", "--datapath", "layer",
                 "-o", str(tmp_path / "layer"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # 9 lanes: the 64-16 layer maps to 4 slots × 2 segments (8 lanes, 128 cycles as 8 × 1 is, but its serial
    # writeback drains 4 outputs a group, not 8), the 16-10 layer to 2 × 4; one shared set of 8 multipliers
    assert report["pe"] == 9 and report["multipliers"] == 8
    assert main(["compile", str(small_model), "--target", "fpga", "--pe", "auto", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == "error: --pe auto needs --board: the lane count that fits depends on the device\n"
    assert main(["compile", str(small_model), "--target", "fpga", "--board", "pynq", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == f"error: --board must be one of {', '.join(BOARDS)}, not pynq\n"
    with pytest.raises(Exception, match="lane count or 'auto'"):
        FitDevice(lanes="many").run(None)  # type: ignore[arg-type]


def test_build_refuses_a_folder_that_does_not_fit_before_any_tool_runs(small_model, tmp_path, capsys):
    out = tmp_path / "hw"
    assert main(["compile", str(small_model), "--target", "fpga", "--pe", "8", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["build", str(out), "--board", "icebreaker"]) == 1
    assert capsys.readouterr().err == (f"error: folder {str(out)!r} needs 16 ICESTORM_DSP, the iCE40UP5K-SG48 on "
                                       "icebreaker has 8: compile it again with --board icebreaker (the lane count "
                                       "that fits)\n")
    assert not (out / "build").exists() and not (out / "build-failed").exists()


def test_a_missing_tool_names_its_package(tiny, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("yosys", "icepack"):  # everything but nextpnr-ice40
        (bin_dir / tool).symlink_to(f"/usr/bin/{tool}")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert main(["build", str(tiny)]) == 1
    assert capsys.readouterr().err == ("error: building for icebreaker needs nextpnr-ice40 on PATH: install Debian "
                                       "package nextpnr-ice40\n")


@pytest.mark.slow
def test_a_failing_place_and_route_gives_the_tools_reason_and_its_log(tiny, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nextpnr-ice40"
    fake.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --log ] && log=$2; [ "$1" = --version ] && '
                    'echo "nextpnr-ice40 (fake)" && exit 0; shift; done\n'
                    'printf "Info: packing\\nERROR: Unable to place cell x, no BELs remaining\\n" > "$log"\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert main(["build", str(tiny)]) == 1
    log = tiny / "build-failed" / "neurocc_board.tim"
    assert capsys.readouterr().err == (f"error: nextpnr-ice40 failed for icebreaker: Unable to place cell x, no BELs "
                                       f"remaining (log: {log})\n")
    assert log.is_file() and not (tiny / "build").exists()
    # a design too large for the device: nextpnr's utilisation table names the resource, the need and the count
    fake.write_text(fake.read_text().replace('"Info: packing\\n', '"Info: Device utilisation:\\nInfo: \\t ICESTORM_LC: '
                                             ' 7305/ 5280   138%%\\n'))
    assert main(["build", str(tiny)]) == 1
    assert capsys.readouterr().err == ("error: the design does not fit the iCE40UP5K-SG48 on icebreaker: it needs "
                                       "7305 ICESTORM_LC, the device has 5280; try a smaller --pe than 2 "
                                       f"(nextpnr-ice40: Unable to place cell x, no BELs remaining; log: {log})\n")


@pytest.mark.slow
def test_a_tiny_design_builds_to_a_bitstream_with_its_report(tiny, capsys):
    assert main(["build", str(tiny), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    build = tiny / "build"
    assert (build / "neurocc_board.bin").stat().st_size > 100_000 and (build / "neurocc_board.asc").is_file()
    assert report["timing_met"] and report["fmax_mhz"] > report["clock_mhz"] == 12 and report["link"]["keeps_up"]
    specs, _ = layer_specs(open_folder(tiny).graph)
    estimate = needs(specs, ICE40)
    assert report["resources"]["ICESTORM_DSP"] == {"used": estimate["ICESTORM_DSP"], "available": 8}
    assert report["resources"]["ICESTORM_RAM"]["used"] <= estimate["ICESTORM_RAM"]  # yosys: tiny ones in logic
    assert set(report["tools"]) == {"yosys", "nextpnr-ice40", "icepack"}
    assert "Yosys" in report["tools"]["yosys"] and report["critical_path"]["ns"] > 0
    assert json.loads((build / "report.json").read_text()) == {k: v for k, v in report.items() if k != "folder"}
    assert "build_neurocc_board.sh" in (build / "build.sh").read_text()
    first = (build / "neurocc_board.bin").read_bytes()
    # the same folder builds to the same bitstream; a user's file in build/ is never deleted
    (build / "notes.txt").write_text("mine")
    assert main(["build", str(tiny)]) == 1
    assert "holds 'notes.txt', which neurocc did not write" in capsys.readouterr().err
    (build / "notes.txt").unlink()
    assert main(["build", str(tiny)]) == 0
    assert (build / "neurocc_board.bin").read_bytes() == first
    assert not [p for p in Path(tiny).iterdir() if p.name.startswith(".")]


def test_the_pll_dividers_make_the_fastest_clock_not_above_the_target():
    from backends.fpga.pll import ice40_pll
    from errors import ConfigError

    assert ice40_pll(12e6, 36e6) == Ice40Pll(divr=0, divf=47, divq=4, filter_range=1, hz=36e6)
    for want in (17e6, 20e6, 33e6, 50e6, 100e6, 275e6):
        pll = ice40_pll(12e6, want)
        vco = 12e6 / (pll.divr + 1) * (pll.divf + 1)
        assert pll.hz == vco / 2**pll.divq and 16e6 <= pll.hz <= want and 533e6 <= vco <= 1066e6
        assert pll.hz >= want * 0.97
    with pytest.raises(ConfigError, match=r"^--clock-mhz 300 is outside what the iCE40 PLL makes \(16–275 MHz\)$"):
        ice40_pll(12e6, 300e6)


def test_the_ecp5_pll_dividers_make_the_fastest_clock_not_above_the_target(tiny, capsys):
    from backends.fpga.board_top import BoardTop, link_shape
    from backends.fpga.boards import get_board
    from backends.fpga.pll import Ecp5Pll, ecp5_pll

    # the ULX3S's 25 MHz: 80 MHz is 25 / 5 · 16, its VCO 560 MHz (the one nearest 600 of 560 and 640)
    assert ecp5_pll(25e6, 80e6) == Ecp5Pll(clki_div=5, clkfb_div=16, clkop_div=7, hz=80e6)
    for want in (12e6, 33e6, 50e6, 84e6, 125e6, 400e6):
        pll = ecp5_pll(25e6, want)
        assert pll.hz == 25e6 / pll.clki_div * pll.clkfb_div <= want and 400e6 <= pll.vco_hz <= 800e6
        assert 25e6 / pll.clki_div >= 3.125e6 and pll.clkfb_div <= 80 and pll.hz >= want * 0.89
    assert main(["build", str(tiny), "--board", "ulx3s-85f", "--clock-mhz", "500"]) == 1
    assert capsys.readouterr().err == "error: --clock-mhz 500 is outside what the ECP5 PLL makes (10–400 MHz)\n"
    # the build plan (no tool runs): the PLL takes the clock pin through a buffer, the design runs on its output
    board = get_board("ulx3s-85f")
    specs, _ = layer_specs(open_folder(tiny).graph)
    plan = board.platform_object().build(BoardTop(link_shape(specs, False), 694, ecp5_pll(25e6, 80e6)),
                                         name="top", do_build=False)
    text = plan.files["top.il"]
    text = text.decode() if isinstance(text, bytes) else text
    assert "cell \\EHXPLLL" in text
    for name, value in (("CLKI_DIV", 5), ("CLKFB_DIV", 16), ("CLKOP_DIV", 7), ("CLKOP_CPHASE", 6)):
        assert re.search(rf"parameter \\{name} {value}\b", text), name
    lpf = plan.files["top.lpf"]
    assert 'FREQUENCY NET "pll_clock" 80000000.0 HZ;' in (lpf.decode() if isinstance(lpf, bytes) else lpf)


@pytest.mark.slow
def test_the_tiny_design_runs_on_the_pll_clock(tiny, capsys):
    assert main(["build", str(tiny), "--clock-mhz", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # 12 MHz · 53 / 32: the fastest the PLL makes from the board's 12 MHz without passing 20
    assert report["clock_source"] == "pll" and report["clock_mhz"] == 19.875 and report["timing_met"]
    assert report["resources"]["ICESTORM_PLL"]["used"] == 1 and report["link"]["clocks_per_bit"] == 173
    assert report["inferences_per_second"] == round(19.875e6 / report["cycles_per_inference"])
    # a clock the design cannot meet (the PLL makes 99 MHz for 100): the build and its report stay, and the error
    # says by how much
    assert main(["build", str(tiny), "--clock-mhz", "100"]) == 1
    assert re.fullmatch(r"error: timing not met for icebreaker: the design reaches [\d.]+ MHz, the PLL's clock is "
                        r"99 MHz \(report: .*report\.txt\)\n", capsys.readouterr().err)


@pytest.mark.slow
def test_clock_auto_runs_on_the_pll_below_the_fmax_of_a_first_build(tiny, capsys):
    assert main(["build", str(tiny), "--clock-mhz", "auto", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clock_source"] == "pll" and report["timing_met"]
    assert 12 < report["clock_mhz"] <= 0.95 * report["first_build_fmax_mhz"]
    assert json.loads((tiny / "build" / "report.json").read_text())["clock_mhz"] == report["clock_mhz"]


@pytest.mark.slow
def test_the_digits_design_builds_for_the_up5k_and_meets_the_fmax_target(small_model, tmp_path, capsys):
    out = tmp_path / "hw"
    assert main(["compile", str(small_model), "--target", "fpga", "--board", "icebreaker", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["build", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pe"] == 8 and report["timing_met"] and report["fmax_mhz"] >= 33  # the shared datapath
    specs, _ = layer_specs(open_folder(out).graph)
    assert {cell: report["resources"][cell]["used"] for cell in ("ICESTORM_DSP", "ICESTORM_RAM")} == \
        needs(specs, ICE40)


@pytest.mark.slow
def test_the_digits_dfa_engine_builds_for_the_up5k_and_meets_its_fmax_target(tmp_path, capsys):
    """The whole 64-64-10 network with the DFA engine on chip (P = 1): it fits the UP5K, at 24 MHz or more."""
    model, out = tmp_path / "init.ncm", tmp_path / "hw"
    assert main(["train", "--rule", "dfa", "--epochs", "0", "--hidden", "64", "-o", str(model), "--quiet"]) == 0
    assert main(["compile", str(model), "--target", "fpga", "--learn", "dfa", "--board", "icebreaker", "--pe", "1",
                 "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["build", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["timing_met"] and report["fmax_mhz"] >= 24
    assert report["resources"]["ICESTORM_LC"]["used"] <= report["resources"]["ICESTORM_LC"]["available"]
    specs, _ = layer_specs(open_folder(out).graph)
    assert {cell: report["resources"][cell]["used"] for cell in ("ICESTORM_DSP", "ICESTORM_RAM")} == \
        needs(specs, ICE40)


def test_build_defaults_to_the_board_the_folder_was_fitted_to(tmp_path, capsys):
    g, _ = quantized((5, 6, 3), ("relu",), 3)
    fitted = compile(g, "fpga", tmp_path / "fitted", board="icebreaker")
    assert json.loads((fitted.path / "manifest.json").read_text())["board"] == "icebreaker"
    plain = compile(quantized((5, 6, 3), ("relu",), 3)[0], "fpga", tmp_path / "plain", pe=2)
    assert "board" not in json.loads((plain.path / "manifest.json").read_text())
    odd, _ = quantized((5, 6, 3), ("relu",), 3)
    odd.meta["board"] = "pynq"  # a model file may say anything: it names no board neurocc builds for
    out = tmp_path / "odd"
    compile(odd, "fpga", out, pe=2)
    assert main(["build", str(out)]) == 1
    assert capsys.readouterr().err == (f"error: folder {str(out)!r}: its manifest names board 'pynq', not one of "
                                       f"{', '.join(BOARDS)}\n")
    assert not (out / "build").exists()


@pytest.mark.slow
def test_a_network_too_big_for_block_ram_builds_with_its_weights_in_spram(tmp_path, capsys):
    """256-200-10 (53,200 8-bit weights; the UP5K's block RAM holds 120 kbit): the weights go to the four SPRAMs,
    placed as counted, and the design meets the same Fmax target as the digits one."""
    g, _ = quantized((256, 200, 10), ("relu",), 7)
    out = compile(g, "fpga", tmp_path / "hw", board="icebreaker").path
    assert json.loads((out / "manifest.json").read_text())["weights"] == "loaded"
    assert main(["build", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pe"] == 8 and report["timing_met"] and report["fmax_mhz"] >= 33
    specs, _ = layer_specs(open_folder(out).graph)
    assert {cell: report["resources"][cell]["used"] for cell in ("ICESTORM_DSP", "ICESTORM_RAM", "ICESTORM_SPRAM")} \
        == needs(specs, ICE40) == {"ICESTORM_DSP": 8, "ICESTORM_RAM": 5, "ICESTORM_SPRAM": 4}


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["pepita", "ff", "oja", "hebbian"])
def test_the_new_learning_engines_fit_the_up5k_at_the_lane_count_fit_device_picks(rule, tmp_path, capsys):
    """Each engine on digits 64-64-10 (from the rule's own random network) at ``--pe auto``: fit-device counts the
    engine's multipliers and memories (sharing the forward multipliers where they run short), so the design it
    picks places and routes on the UP5K and meets the board clock, with exactly the multiplier cells and block
    RAMs it counted (PEPITA and forward-forward at P = 2, Oja at P = 1); Hebbian's multipliers would admit P = 4,
    whose logic yosys's estimate rules out (as it does P = 3), so P = 2."""
    model, out = tmp_path / "init.ncm", tmp_path / "hw"
    assert main(["train", "--rule", rule, "--epochs", "0", "-o", str(model), "--quiet"]) == 0
    assert main(["compile", str(model), "--target", "fpga", "--learn", "--board", "icebreaker", "-o", str(out),
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["build", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["timing_met"], report
    assert report["pe"] == {"pepita": 2, "ff": 2, "oja": 1, "hebbian": 2}[rule]
    folder = open_folder(out)
    estimate = needs(layer_specs(folder.graph)[0], ICE40, learn_spec(folder.graph))
    used = {cell: report["resources"][cell]["used"] for cell in estimate}
    assert used == estimate
