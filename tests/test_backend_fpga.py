"""The FPGA target: the whole network in hardware, bit-exact with the integer reference (Amaranth simulator)."""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.fpga import build_network, emit
from backends.fpga.emit import layer_specs
from backends.fpga.program import Infer
from backends.fpga.sim import simulate_amaranth
from circuits.digital.network import latency, period
from compiler.passes import PassManager
from compiler.pipelines import quantize_pipeline
from ir import LoweringError, UnsupportedOpError, interp
from tests.conftest import make_mlp_graph, mapped


def quantized(sizes, acts, seed, wb=8, ab=8):
    g = make_mlp_graph(list(sizes), list(acts), seed=seed)
    x = np.random.default_rng(seed).uniform(0, 1, (50, sizes[0]))
    PassManager(quantize_pipeline(x, wb, ab)).run(g)
    return g, x


def reference_words(g, x):
    last = [n for n in g.toposort() if n.startswith("fc")][-1]
    ref = interp.run(g, x, keep=("quant", last))
    return ref["quant"], ref[last]


@settings(max_examples=40)
@given(sizes=st.lists(st.integers(1, 7), min_size=2, max_size=4), acts=st.lists(st.sampled_from(
       ["relu", "hardtanh", "identity", "tanh", "sigmoid"]), min_size=1, max_size=2), lanes=st.integers(1, 9),
       seed=st.integers(0, 999),
       bits=st.sampled_from([(8, 8), (6, 5), (4, 8)]), store=st.sampled_from(["memory", "registers", "mixed"]),
       bias_store=st.sampled_from(["logic", "memory"]), shared=st.booleans(), serial=st.booleans(),
       mac_registers=st.sampled_from([0, 1, 2]))
def test_random_networks_are_bit_exact_for_any_lane_count(sizes, acts, lanes, seed, bits, store, bias_store, shared,
                                                          serial, mac_registers):
    g, x = quantized(sizes, acts, seed, *bits)
    codes, words = reference_words(g, x[:3])
    hardware = mapped(g, lanes, store, bias_store, shared, serial, mac_registers)
    (run,) = simulate_amaranth(build_network(hardware), [Infer(codes)])
    hw, cycles = run.words, run.cycles
    np.testing.assert_array_equal(hw, words)
    specs, _ = layer_specs(hardware)
    assert cycles[0] == latency(specs) and min(cycles[1:]) >= period(specs)


def test_manifest_cycles_match_the_hardware_and_verilog_is_deterministic(tmp_path):
    g, x = quantized((9, 12, 5), ("relu",), 0)
    out = emit(mapped(copy.deepcopy(g), 4), tmp_path / "a")
    emit(mapped(copy.deepcopy(g), 4), tmp_path / "b")
    assert (out / "network.v").read_bytes() == (tmp_path / "b" / "network.v").read_bytes()
    text = (out / "network.v").read_text()
    assert "module neurocc_network" in text and "src =" not in text
    manifest = json.loads((out / "manifest.json").read_text())
    codes, _ = reference_words(g, x[:2])
    (run,) = simulate_amaranth(build_network(mapped(g, 4)), [Infer(codes)])
    assert run.cycles == [manifest["latency_cycles"], manifest["cycles_per_inference"]]
    # layer 1 (12 inputs, 5 outputs) splits its inputs over four segments rather than idle three of four lanes
    assert [(x["slots"], x["segments"]) for x in manifest["layers"]] == [(4, 1), (1, 4)]
    assert manifest["multipliers"] == 8 and manifest["layers"][0]["mac_bound"] == 27
    assert manifest["cycles_per_inference"] == (3 * 9 + 5) + (5 * 3 + 5) + 1
    # Memory images: lane 1 of layer 0 holds rows 1, 5, 9 (rows 12.. are padding), 8-bit two's complement.
    w = g.params["fc1.weight_q"]
    lines = (out / "mem" / "layer0_lane1_weights.hex").read_text().split()
    assert len(lines) == 3 * 9 and all(len(v) == 2 for v in lines)
    assert [int(v, 16) - 256 * (int(v, 16) >= 128) for v in lines[:9]] == w[1].tolist()


@pytest.mark.parametrize("store", ["memory", "registers"])
def test_a_serial_writeback_is_bit_exact_and_costs_a_cycle_per_extra_slot(store):
    """Layer 0 (9 inputs, 12 outputs on 4 slots) has 9 cycles per group for its 4 outputs: one requantizer serves
    them, and the layer takes 3 cycles more; layer 1 (1 slot) has nothing to serialize."""
    from ir.dialects import digital

    g, x = quantized((9, 12, 5), ("relu",), 4)
    codes, words = reference_words(g, x[:4])
    parallel, serial = mapped(g, 4, store), mapped(g, 4, store, serial=True)
    assert [op.writeback for n in serial.toposort() if isinstance(op := serial.op(n), digital.Dense)] == \
        ["serial", "parallel"]
    (run,) = simulate_amaranth(build_network(serial), [Infer(codes)])
    np.testing.assert_array_equal(run.words, words)
    specs, before = layer_specs(serial)[0], layer_specs(parallel)[0]
    assert run.cycles == [latency(specs)] + [period(specs)] * 3 and period(specs) == period(before) + 3


def test_bad_lane_count():
    g, _ = quantized((3, 2), (), 0)
    with pytest.raises(LoweringError, match=r"^--pe must be an integer in \[1, 1024\], not 0$"):
        mapped(g, 0)


def test_unquantized_graph_is_refused():
    with pytest.raises(UnsupportedOpError, match=r"^node 'fc1' \(nn\.dense\) is not lowered for the fpga target: "
                                                 r"run quantize first$"):
        build_network(make_mlp_graph([3, 2], []))


@pytest.mark.slow
def test_verilator_runs_the_emitted_verilog_bit_exact(tmp_path):
    from backends.fpga.run import FpgaFolder, run_hardware

    g, x = quantized((9, 12, 7, 5), ("relu", "hardtanh"), 4)
    folder = FpgaFolder.load(emit(mapped(g, 3), tmp_path / "hw"))
    vl = run_hardware(folder, x, "verilator")
    np.testing.assert_array_equal(vl["hardware"], vl["reference"])
    am = run_hardware(folder, x[:4], "amaranth")
    np.testing.assert_array_equal(am["hardware"], vl["hardware"][:4])
    m = folder.manifest
    assert vl["cycles"] == [m["latency_cycles"]] + [m["cycles_per_inference"]] * (len(x) - 1)
    assert am["cycles"] == vl["cycles"][:4]


def test_verilator_missing_names_the_package(tmp_path, monkeypatch):
    from backends.fpga.run import FpgaFolder, run_hardware
    from ir import ToolNotFoundError

    g, x = quantized((3, 2), (), 0)
    folder = FpgaFolder.load(emit(mapped(g, 1), tmp_path / "hw"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolNotFoundError, match=r"^verilator is not installed: apt-get install verilator$"):
        run_hardware(folder, x, "verilator")


def test_weight_port_writes_and_reads_weights_between_inferences():

    g, x = quantized((6, 5, 4), ("relu",), 2)
    net = build_network(mapped(g, 2))
    codes, _ = reference_words(g, x[:1])
    g.params["fc2.weight_q"][3, 4] = -77  # what the port will write: row 3, column 4 of layer 1
    _, expected = reference_words(g, x[:1])
    read, out = write_weight_then_infer(net, codes[0])
    assert read == -77
    assert out == expected[0].tolist()


def write_weight_then_infer(net, codes) -> tuple[int, list[int]]:
    """Write -77 to row 3, column 4 of layer 1 through the weight port, read it back, then run one input: the
    value read and the output words, in the Amaranth simulator."""
    from amaranth.sim import Simulator

    seen = {}

    async def bench(ctx):
        ctx.set(net.w_layer, 1)
        ctx.set(net.w_row, 3)
        ctx.set(net.w_col, 4)
        ctx.set(net.w_data, -77)
        ctx.set(net.w_we, 1)
        await ctx.tick()
        ctx.set(net.w_we, 0)
        await ctx.tick().repeat(3)  # the write lands one cycle after the registered inputs; reads take two
        seen["read"] = ctx.get(net.w_rdata)
        ctx.set(net.o.ready, 1)
        for v in codes.tolist():
            ctx.set(net.i.payload, v)
            ctx.set(net.i.valid, 1)
            await ctx.tick()
        ctx.set(net.i.valid, 0)
        out = []
        while len(out) < net.n_out:
            if ctx.get(net.o.valid):
                out.append(ctx.get(net.o.payload))
            await ctx.tick()
        seen["out"] = out

    sim = Simulator(net)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen["read"], seen["out"]


def test_corrupt_manifest_is_a_one_line_error(tmp_path):
    from backends.fpga.run import FpgaFolder
    from ir import ModelFormatError

    g, _ = quantized((3, 2), (), 0)
    out = emit(mapped(g, 1), tmp_path / "hw")
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFormatError, match=rf"^'{out}/manifest\.json' is not valid JSON \(.+\)$"):
        FpgaFolder.load(out)


def top_ports(text: str) -> str:
    """The port declarations of the top module, one per line (what a board wrapper or a harness connects to)."""
    import re

    top = text[text.index("module neurocc_network"):]
    top = top[: top.index("endmodule")]
    return "".join(line.strip() + "\n" for line in top.splitlines() if re.match(r"\s*(input|output)\b", line))


def test_verilog_port_list_matches_golden():
    from pathlib import Path

    from backends.fpga.emit import verilog

    g, _ = quantized((9, 12, 5), ("relu",), 0)
    golden = Path(__file__).parent / "golden" / "verilog_ports.txt"
    assert top_ports(verilog(build_network(mapped(g, 4)))) == golden.read_text()


def shared(g, lanes, bias_store="", weight_store=""):
    """A copy of a quantized graph on one lane array shared by every layer (``share-datapath``)."""
    from compiler.passes.share_datapath import ShareDatapath

    return PassManager([ShareDatapath(bias_store=bias_store, weight_store=weight_store)]).run(mapped(g, lanes))


@settings(max_examples=40)
@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4), acts=st.lists(st.sampled_from(
       ["relu", "hardtanh", "identity", "tanh", "sigmoid"]), min_size=1, max_size=2), lanes=st.integers(1, 10),
       seed=st.integers(0, 999), bits=st.sampled_from([(8, 8), (6, 5), (4, 8), (12, 6)]),
       bias_store=st.sampled_from(["logic", "memory"]), weight_store=st.sampled_from(["bram", "spram"]))
def test_random_networks_on_the_shared_datapath_are_bit_exact(sizes, acts, lanes, seed, bits, bias_store,
                                                             weight_store):
    """Any sizes (a layer narrower than the lanes, groups that wait for the drain), activations, formats, lane
    counts and weight memories (SPRAM: loaded through the weight port first): the same words as the integer
    reference, and the cycles the manifest's formula states."""
    from backends.fpga.program import LoadWeights
    from backends.fpga.run import model_weights

    g, x = quantized(sizes, acts, seed, *bits)
    codes, words = reference_words(g, x[:3])
    hardware = shared(g, lanes, bias_store, weight_store)
    load = [LoadWeights(tuple(model_weights(hardware)))] if weight_store == "spram" else []
    *_, run = simulate_amaranth(build_network(hardware), [*load, Infer(codes)])
    np.testing.assert_array_equal(run.words, words)
    specs, _ = layer_specs(hardware)
    assert run.cycles == [latency(specs), period(specs), period(specs)]


def test_the_shared_datapath_cycles_memories_and_weight_port(tmp_path):
    """9-12-5 on 4 lanes: layer 0 takes 3 groups of 9 inputs and a restart, then its last group's drain; layer 1
    (5 outputs on 4 slots) 2 groups of 12 + 1; lane 1's memory holds rows 1, 5, 9 of layer 0, then rows 1 and 5 of
    layer 1; the weight port writes and reads a weight of layer 1 and the next inference uses it."""
    from backends.fpga.emit import verilog

    g, x = quantized((9, 12, 5), ("relu",), 0)
    hw = shared(g, 4)
    out = emit(hw, tmp_path / "hw")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["datapath"] == "shared" and manifest["multipliers"] == manifest["weight_memories"] == 4
    assert [(x["slots"], x["segments"], x["cycles"]) for x in manifest["layers"]] == \
        [(4, 1, 2 * 10 + 9 + 4 + 4), (4, 1, 1 * 13 + 12 + 4 + 4)]
    assert manifest["cycles_per_inference"] == 37 + 33 + 1
    w1, w2 = g.params["fc1.weight_q"], g.params["fc2.weight_q"]
    words = [int(v, 16) - 256 * (int(v, 16) >= 128) for v in (out / "mem" / "lane1_weights.hex").read_text().split()]
    assert words == [*w1[1], *w1[5], *w1[9], *w2[1], *np.zeros(12, int)]  # row 5 of 5 is past the edge
    lanes = [f"lane{q}_weights.hex" for q in range(4)]
    assert sorted(p.name for p in (out / "mem").iterdir()) == ["biases.hex", *lanes]

    net = build_network(hw)
    codes, _ = reference_words(g, x[:1])
    g.params["fc2.weight_q"][3, 4] = -77  # what the port will write: row 3, column 4 of layer 1
    _, expected = reference_words(g, x[:1])
    read, words = write_weight_then_infer(net, codes[0])
    assert read == -77 and words == expected[0].tolist()
    assert top_ports(verilog(net)) == (Path(__file__).parent / "golden" / "verilog_ports.txt").read_text()


def test_mixed_datapaths_are_refused():
    from dataclasses import replace

    from ir.dialects import digital

    g, _ = quantized((9, 12, 5), ("relu",), 0)
    hw = shared(g, 4)
    hw.replace("fc2", replace(hw.op_as("fc2", digital.Dense), datapath="layer"))
    with pytest.raises(UnsupportedOpError, match=r"^node 'fc2' has datapath 'layer', node 'fc1' 'shared': every layer "
                                                 r"runs on a datapath of its own or all share one \(run "
                                                 r"share-datapath\)$"):
        build_network(hw)


def test_on_the_shared_datapath_a_group_waits_for_the_drain():
    """2-9-3 on 4 lanes: layer 0's groups of 4 outputs fill in 3 cycles (2 inputs and the restart) but drain in 4,
    so each group takes 4; bit-exact all the same."""
    g, x = quantized((2, 9, 3), ("tanh",), 5)
    codes, words = reference_words(g, x[:3])
    hw = shared(g, 4)
    specs, _ = layer_specs(hw)
    assert [s.group_period for s in specs] == [4, 10] and specs[0].cycles == 2 * 4 + 2 + 4 + 4
    (run,) = simulate_amaranth(build_network(hw), [Infer(codes)])
    np.testing.assert_array_equal(run.words, words)
    assert run.cycles == [latency(specs), period(specs), period(specs)]


def test_weights_in_spram_are_not_in_the_bitstream_and_load_through_the_weight_port(tmp_path):
    """9-12-5 on 4 lanes with its weights in SPRAM: two memories of 51 16-bit words (two lanes' 8-bit weights each)
    with no initial values, which yosys maps to two SB_SPRAM256KA; the hardware computes with zeros until the host
    writes the weights, then equals the reference; they read back through the same port."""
    import subprocess

    from backends.fpga.emit import verilog
    from backends.fpga.program import LoadWeights, ReadWeights
    from backends.fpga.run import model_weights

    g, x = quantized((9, 12, 5), ("relu",), 0)
    codes, words = reference_words(g, x[:2])
    hw = shared(g, 4, weight_store="spram")
    out = emit(hw, tmp_path / "hw")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["weights"] == "loaded" and manifest["datapath"] == "shared"
    text = (out / "network.v").read_text()
    assert "reg [15:0] spram0 [50:0];" in text and "spram0[0] =" not in text and "wmem0[0] =" not in text
    net = build_network(hw)
    weights = model_weights(hw)
    empty, load, run, back = simulate_amaranth(net, [Infer(codes), LoadWeights(tuple(weights)), Infer(codes),
                                                     ReadWeights()])
    assert not np.array_equal(empty.words, words)  # all weights 0: every output is the bias's
    np.testing.assert_array_equal(run.words, words)
    assert load == [] and all(np.array_equal(a, b) for a, b in zip(back, weights, strict=True))
    stat = subprocess.run(["yosys", "-p", f"read_verilog {out / 'network.v'}; synth_ice40 -dsp -top neurocc_network; "
                           "stat"], capture_output=True, text=True, check=True).stdout
    assert re.search(r"SB_SPRAM256KA\s+2\n", stat) and "SB_MAC16" in stat
    assert verilog(net) == text


@pytest.mark.slow
def test_verilator_loads_spram_weights_before_the_test_set(tmp_path):
    from backends.fpga.run import FpgaFolder, run_hardware

    g, x = quantized((9, 12, 7, 5), ("relu", "hardtanh"), 4)
    folder = FpgaFolder.load(emit(shared(g, 3, weight_store="spram"), tmp_path / "hw"))
    vl = run_hardware(folder, x, "verilator")  # the host program writes every weight first
    np.testing.assert_array_equal(vl["hardware"], vl["reference"])
    m = folder.manifest
    assert vl["cycles"] == [m["latency_cycles"]] + [m["cycles_per_inference"]] * (len(x) - 1)
