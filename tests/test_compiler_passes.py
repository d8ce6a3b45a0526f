import numpy as np
import pytest

from compiler.passes import PASSES, Pass, PassManager
from compiler.passes.base import pass_table
from compiler.passes.fit_device import FitDevice
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog
from compiler.passes.map_lanes import MapLanes
from compiler.passes.onchip import OnChipLearning
from compiler.passes.place_memories import PlaceMemories
from compiler.passes.quantize import Quantize
from compiler.passes.serialize_outputs import SerializeOutputs
from compiler.passes.share_datapath import ShareDatapath
from compiler.passes.share_multipliers import ShareMultipliers
from ir import LoweringError, interp
from ir.dialects import nn
from tests.conftest import make_mlp_graph


def test_registry_is_explicit():
    assert PASSES == {"fit-device": FitDevice, "fold-identity": FoldIdentity, "lower-analog": LowerAnalog,
                      "map-lanes": MapLanes, "onchip-learning": OnChipLearning, "place-memories": PlaceMemories,
                      "quantize": Quantize, "serialize-outputs": SerializeOutputs, "share-datapath": ShareDatapath,
                      "share-multipliers": ShareMultipliers}
    with pytest.raises(TypeError, match=r"^pass name 'fold-identity' registered twice$"):
        pass_table(FoldIdentity, FoldIdentity)


def test_fold_identity_keeps_semantics():
    g = make_mlp_graph([3, 5, 4, 2], ["identity", "relu"])
    x = np.random.default_rng(0).standard_normal((9, 3))
    before = interp.run(g, x)["logits"]
    PassManager([FoldIdentity()]).run(g)
    assert [op.fn for _, op in g.nodes() if isinstance(op, nn.Activation)] == ["relu"]
    np.testing.assert_array_equal(interp.run(g, x)["logits"], before)


def test_manager_names_a_pass_that_breaks_the_graph():
    class Breaker(Pass):
        name = "breaker"

        def run(self, graph):
            graph.params["fc1.weight"] = np.zeros((1, 1))

    g = make_mlp_graph([3, 2], [])
    with pytest.raises(LoweringError, match=r"^pass 'breaker' left graph 'mlp' invalid: node 'fc1' \(nn\.dense\): "
                                            r"weight 'fc1\.weight' must have shape \(2, 3\), not \(1, 1\)$"):
        PassManager([Breaker()]).run(g)


@pytest.mark.parametrize("n_in,n_out,lanes,expected", [(64, 64, 8, (8, 1)), (64, 10, 8, (2, 4)), (3, 12, 12, (12, 1)),
                                                       (9, 1, 4, (1, 3)), (5, 5, 1, (1, 1))])
def test_map_lanes_splits_narrow_layers_over_their_inputs(n_in, n_out, lanes, expected):
    from compiler.passes.map_lanes import lane_mapping

    assert lane_mapping(n_in, n_out, lanes) == expected


def _placed(sizes, rule=None):
    """A quantized graph (learning with ``rule`` where given), lanes mapped and memories placed."""
    from compiler.pipelines import fpga_pipeline, learning_pipeline

    g = make_mlp_graph(list(sizes), ["relu"] * (len(sizes) - 2), seed=1)
    x = np.random.default_rng(1).uniform(0, 1, (40, sizes[0]))
    pipeline = fpga_pipeline(x, lanes=2) if rule is None else learning_pipeline(x, rule, lanes=2)
    return PassManager(pipeline).run(g)


def _stores(g):
    from ir.dialects import digital

    return [(op.store, op.bias_store) for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)]


def test_place_memories_puts_outputs_in_block_ram_unless_a_learning_engine_reads_them_all_at_once():
    # 64 biases of a dozen bits make a table worth a RAM block; 3 do not
    assert _stores(_placed((12, 64, 3))) == [("memory", "memory"), ("memory", "logic")]
    # the error reads every prediction in one cycle; the hidden layer's outputs are read a row or a group at a time
    assert _stores(_placed((12, 64, 3), "dfa")) == [("memory", "memory"), ("registers", "logic")]
    with pytest.raises(LoweringError, match=r"^graph 'mlp' has no digital\.dense layer to place memories for: run "
                                            r"quantize first$"):
        PlaceMemories().run(make_mlp_graph([3, 2], []))


def test_fit_device_moves_biases_then_outputs_to_logic_where_block_ram_runs_short():
    from dataclasses import replace

    from backends.fpga.boards import BOARDS
    from backends.fpga.emit import layer_specs
    from backends.fpga.resources import needs
    from compiler.passes.fit_device import _fit_memories

    g = _placed((12, 64, 3))
    full = needs(layer_specs(g)[0], BOARDS["icebreaker"].family)["ICESTORM_RAM"]
    # one block short: the big bias table (2 slots, one block each) goes back to logic, the outputs stay
    _fit_memories(g, replace(BOARDS["icebreaker"], bram=full - 1))
    assert _stores(g) == [("memory", "logic"), ("memory", "logic")]
    # far short: every output too, and what is left is the weights' and the link's
    _fit_memories(g, replace(BOARDS["icebreaker"], bram=2))
    assert _stores(g) == [("registers", "logic"), ("registers", "logic")]


def test_fit_device_shares_multipliers_between_layers_where_the_device_has_too_few():
    from backends.fpga.boards import BOARDS
    from backends.fpga.emit import layer_specs
    from backends.fpga.resources import needs
    from ir.dialects import digital

    def multipliers(g):
        return [op.multipliers for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)]

    g = _placed((12, 64, 3))
    # a datapath per layer (the iCE40's default is one shared by all layers: see the share-datapath tests)
    FitDevice(board="icebreaker", datapath="layer", lanes=4).run(g)  # 4 + 4 multipliers of their own: the UP5K has 8
    assert multipliers(g) == ["", ""]
    FitDevice(board="icebreaker", datapath="layer", lanes=8).run(g)  # 8 + 8 do not fit; one shared set of 8 does
    assert multipliers(g) == ["shared", "shared"]
    assert needs(layer_specs(g)[0], BOARDS["icebreaker"].family)["ICESTORM_DSP"] == 8
    FitDevice(board="icebreaker", datapath="layer", lanes=4).run(g)  # a remap starts from the layers' own again
    assert multipliers(g) == ["", ""]
    # the ECP5's memory → multiplier → accumulator path wants registers around the multipliers; the iCE40's not
    assert [op.mac_registers for _, op in g.nodes() if isinstance(op, digital.Dense)] == [0, 0]
    FitDevice(board="ulx3s-85f", lanes=4).run(g)
    assert [op.mac_registers for _, op in g.nodes() if isinstance(op, digital.Dense)] == [2, 2]
    specs = layer_specs(g)[0]
    assert [s.cycles for s in specs] == [s.groups * s.seg_len + 5 + 2 + s.drain_cycles for s in specs]
    FitDevice(board="icebreaker", datapath="layer", lanes=4).run(g)
    ShareMultipliers(share=False).run(g)
    assert multipliers(g) == ["own", "own"]
    with pytest.raises(LoweringError, match=r"^graph 'mlp' has no digital\.dense layer to share multipliers between: "
                                            r"run quantize first$"):
        ShareMultipliers().run(make_mlp_graph([3, 2], []))


def test_serialize_outputs_where_a_group_takes_as_many_cycles_as_it_has_slots():
    from dataclasses import replace

    from ir import VerifyError
    from ir.dialects import digital

    def writebacks(g):
        return [op.writeback for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)]

    # 2 lanes: 12-64 has 2 slots and 12 cycles a group (serial); 64-3 splits its inputs (1 slot: nothing to drain)
    assert writebacks(_placed((12, 64, 3))) == ["serial", "parallel"]
    assert writebacks(_placed((12, 64, 3), "dfa")) == ["serial", "parallel"]
    # Oja's update pass reads a group of the layer's own outputs at once: from block RAM, one bank cannot serve it
    assert writebacks(_placed((12, 64, 3), "oja")) == ["parallel", "parallel"]
    g = _placed((3, 12, 2))  # 3 inputs on 2 slots: 3 cycles a group, enough; 12 inputs on 2 slots too
    assert writebacks(g) == ["serial", "serial"]
    MapLanes(lanes=8).run(g)  # a remap forgets the writeback: it depends on the mapping
    assert writebacks(g) == ["", ""]
    SerializeOutputs().run(g)  # 3-12 is 2 slots × 3 segments, 1 cycle a group; 12-2 2 × 4, 3 cycles
    assert writebacks(g) == ["parallel", "serial"]
    with pytest.raises(VerifyError, match=r"a serial writeback needs a lane mapping with at least as many cycles per "
                                          r"group as slots, not 2×3 on 3 inputs$"):
        replace(g.op_as("fc1", digital.Dense), writeback="serial").verify()
    with pytest.raises(LoweringError, match=r"^graph 'mlp' has no digital\.dense layer to serialize outputs for"):
        SerializeOutputs().run(make_mlp_graph([3, 2], []))


def test_share_datapath_puts_every_layer_on_one_lane_array():
    from dataclasses import replace

    from backends.fpga.boards import BOARDS
    from backends.fpga.emit import layer_specs
    from backends.fpga.resources import needs
    from ir import VerifyError
    from ir.dialects import digital

    def fields(g):
        return [(op.datapath, op.lanes, op.slots, op.segments, op.writeback, op.store, op.bias_store)
                for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)]

    g = _placed((12, 64, 3))  # 2 lanes: 12-64 on 2 slots, 64-3 on 1 slot × 2 segments
    ShareDatapath().run(g)
    # every layer on the 2 lanes, one segment, a serial writeback into memory; the two bias tables are one of
    # 67 × 14 bits (≥ 256: block RAM)
    assert fields(g) == [("shared", 2, 2, 1, "serial", "memory", "memory"),
                         ("shared", 2, 2, 1, "serial", "memory", "memory")]
    specs = layer_specs(g)[0]
    # a group takes its inputs and one cycle more; a layer its groups and the last one's drain
    assert [s.cycles for s in specs] == [31 * 13 + 12 + 4 + 2, 1 * 65 + 64 + 4 + 2]
    assert needs(specs, BOARDS["icebreaker"].family)["ICESTORM_DSP"] == 2
    ShareDatapath(bias_store="logic").run(g)
    assert {f[-1] for f in fields(g)} == {"logic"}
    MapLanes(lanes=4).run(g)  # a remap forgets the shared datapath: it is decided for a mapping
    assert [f[0] for f in fields(g)] == ["", ""]
    with pytest.raises(VerifyError, match=r"^a shared datapath needs min\(lanes, out_features\) slots, one segment, a "
                                          r"serial writeback, no MAC registers and outputs in memory, not 4×1 on 4 "
                                          r"lanes, '', 0, 'memory'$"):
        replace(g.op_as("fc1", digital.Dense), datapath="shared").verify()
    with pytest.raises(LoweringError, match=r"^graph 'mlp' has an on-chip learning engine: the shared datapath "
                                            r"computes inference only \(every layer updates at once on lanes of its "
                                            r"own\); use --datapath layer$"):
        ShareDatapath().run(_placed((12, 64, 3), "dfa"))
    with pytest.raises(LoweringError, match=r"^node 'fc1' is not mapped onto lanes: run map-lanes before "
                                            r"share-datapath$"):
        unmapped = _placed((3, 2))
        unmapped.replace("fc1", replace(unmapped.op_as("fc1", digital.Dense), lanes=0, slots=0, segments=0,
                                        writeback=""))
        ShareDatapath().run(unmapped)
    with pytest.raises(LoweringError, match=r"^share-datapath: bias_store must be one of '', 'logic', 'memory', not "
                                            r"'spram'$"):
        ShareDatapath(bias_store="spram").run(g)
    with pytest.raises(LoweringError, match=r"^graph 'mlp' has no digital\.dense layer to share a datapath between: "
                                            r"run quantize first$"):
        ShareDatapath().run(make_mlp_graph([3, 2], []))


def test_fit_device_gives_an_ice40_inference_design_the_shared_datapath():
    from ir.dialects import digital

    def datapaths(g):
        return [op.datapath for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)]

    g = _placed((12, 64, 3))
    FitDevice(board="icebreaker", lanes=8).run(g)
    assert datapaths(g) == ["shared", "shared"]
    FitDevice(board="ulx3s-85f", lanes=8).run(g)  # the ECP5's multipliers do not accumulate: a datapath per layer
    assert datapaths(g) == ["", ""]
    FitDevice(board="ulx3s-85f", lanes=8, datapath="shared").run(g)
    assert datapaths(g) == ["shared", "shared"]
    learning = _placed((12, 64, 3), "dfa")  # a learning engine needs each layer's lanes
    FitDevice(board="icebreaker", lanes=2).run(learning)
    assert datapaths(learning) == ["", ""]
    # on the ECP5 its multipliers' products are registered (not their operands: yosys 0.70 fails on those)
    FitDevice(board="ulx3s-85f", lanes=2).run(learning)
    assert [op.mac_registers for n in learning.toposort() if isinstance(op := learning.op(n), digital.Dense)] == \
        [1, 1]
    with pytest.raises(LoweringError, match=r"^--datapath must be layer, shared or auto, not 'wide'$"):
        FitDevice(board="icebreaker", datapath="wide").run(g)


def test_fit_device_steps_a_learning_design_down_while_its_logic_estimate_exceeds_the_device(monkeypatch):
    """``--pe auto`` for a learning engine takes the fastest mapping whose logic estimate (yosys's; here a
    stand-in of 800 cells a lane) the UP5K's 5,280 cells hold, trying the faster ones first; an estimate that
    exceeds them at every lane count is an error naming the cells."""
    import compiler.passes.fit_device as fit
    from ir.dialects import digital

    def lanes(g):
        return [op.slots * op.segments for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)]

    monkeypatch.setattr(fit, "logic_estimate", lambda g, family: 0)
    fastest = _placed((12, 64, 3), "hebbian")
    FitDevice(board="icebreaker").run(fastest)
    seen: list[int] = []

    def estimate(g, family):
        seen.append(800 * sum(lanes(g)))
        return seen[-1]

    monkeypatch.setattr(fit, "logic_estimate", estimate)
    learning = _placed((12, 64, 3), "hebbian")
    FitDevice(board="icebreaker").run(learning)
    assert seen[0] == 800 * sum(lanes(fastest)) > 5280  # the fastest mapping was tried first, and refused
    assert seen[-1] == 800 * sum(lanes(learning)) <= 5280 < min(seen[:-1])  # the first that fits is taken
    monkeypatch.setattr(fit, "logic_estimate", lambda g, family: 10**6)
    with pytest.raises(LoweringError, match=r"^the design at --pe auto needs more ICESTORM_LC than the "
                                            r"iCE40UP5K-SG48 on icebreaker has \(5280\) at every lane count "
                                            r"\(yosys's estimate\): use a larger board or fewer weight bits$"):
        FitDevice(board="icebreaker").run(_placed((12, 64, 3), "hebbian"))


def test_fit_device_puts_weights_in_spram_where_block_ram_runs_short():
    from backends.fpga.boards import BOARDS
    from backends.fpga.emit import layer_specs
    from backends.fpga.resources import needs
    from ir.dialects import digital

    def stores(g):
        return {(op.weight_store, op.bias_store) for n in g.toposort() if isinstance(op := g.op(n), digital.Dense)}

    g = _placed((256, 200, 10))  # 53,200 8-bit weights: 426 kbit, the UP5K's block RAM holds 120
    FitDevice(board="icebreaker", lanes=8).run(g)
    # the bias table to logic first, then the weights to SPRAM: 4 memories (two lanes each) of 25 · 256 + 2 · 200
    # words, one SPRAM each
    assert stores(g) == {("spram", "logic")}
    assert needs(layer_specs(g)[0], BOARDS["icebreaker"].family) == {"ICESTORM_DSP": 8, "ICESTORM_RAM": 5,
                                                                      "ICESTORM_SPRAM": 4}
    FitDevice(board="icebreaker", lanes=2).run(g)  # each remap decides afresh: 2 lanes fit in 1 SPRAM word
    assert stores(g) == {("spram", "logic")}
    assert needs(layer_specs(g)[0], BOARDS["icebreaker"].family)["ICESTORM_SPRAM"] == 2
    small = _placed((12, 64, 3))
    FitDevice(board="icebreaker", lanes=8).run(small)
    assert stores(small) == {("bram", "memory")}  # room in block RAM for both
    huge = _placed((784, 512, 10))  # 406k weights: 3.2 Mbit, more than the SPRAM's 1 Mbit at any lane count
    with pytest.raises(LoweringError, match=r"^the design at --pe auto needs \d+ ICESTORM_SPRAM, the "
                                            r"iCE40UP5K-SG48 on icebreaker has 4; no lane count fits: use a larger "
                                            r"board or fewer weight bits$"):
        FitDevice(board="icebreaker").run(huge)
    with pytest.raises(LoweringError, match=r"^node 'fc1' has 20-bit weights: an SPRAM word holds at most 16$"):
        from dataclasses import replace

        wide = _placed((3, 2))
        wide.replace("fc1", replace(wide.op_as("fc1", digital.Dense), w_bits=20))
        ShareDatapath(weight_store="spram").run(wide)
