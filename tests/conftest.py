from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

from ir import Graph
from ir.dialects import learn, nn

# Property tests draw the same examples on every run: a CI failure is always reproducible.
settings.register_profile("neurocc", derandomize=True, deadline=None, database=None)
settings.load_profile("neurocc")


@pytest.fixture(scope="session")
def default_run():
    """``default_run(rule)``: the rule's default training run on digits (64 hidden, 40 epochs), trained once per
    test session whichever modules ask for it (the accuracy checks of several modules share these runs)."""
    from learning.trainer import TrainConfig, train

    runs: dict = {}

    def get(rule: str):
        if rule not in runs:
            runs[rule] = train(TrainConfig(rule=rule), progress=False)
        return runs[rule]

    return get


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A small trained digits model file (DFA, 64-16-10, 2 epochs), shared by the command-line tests. Tests copy
    it before changing it."""
    from compiler.cli import main

    path = tmp_path_factory.mktemp("small-model") / "dfa.ncm"
    assert main(["train", "--rule", "dfa", "--epochs", "2", "--hidden", "16", "-o", str(path), "--quiet"]) == 0
    return path


@pytest.fixture(scope="session", autouse=True)
def _neurocc_cache(tmp_path_factory):
    """Verilator builds go to a cache of the test session's own, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NEUROCC_CACHE_DIR", str(tmp_path_factory.mktemp("neurocc-cache")))
    yield
    mp.undo()


def make_mlp_graph(sizes: list[int], acts: list[str], seed: int = 0, bias: bool = True) -> Graph:
    """A small nn-dialect MLP with random weights: sizes[0] inputs, an activation after every dense but the last."""
    rng = np.random.default_rng(seed)
    g = Graph("mlp")
    prev = g.add("x", nn.Input("x", (sizes[0],)))
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        w = g.add_param(f"fc{i}.weight", rng.standard_normal((b, a)))
        bb = g.add_param(f"fc{i}.bias", rng.standard_normal(b)) if bias else None
        prev = g.add(f"fc{i}", nn.Dense(a, b, w, bb), [prev])
        if i < len(sizes) - 1:
            prev = g.add(f"act{i}", nn.Activation(acts[(i - 1) % len(acts)]), [prev])
    g.add("out", nn.Output("logits"), [prev])
    return g


@pytest.fixture
def small_graph() -> Graph:
    g = make_mlp_graph([3, 4, 2], ["relu"])
    g.add("rule", learn.Rule("dfa", (("lr", 0.5),), 7))
    g.add_param("fc1.feedback", np.full((4, 2), 0.25))
    g.add("feedback1", learn.Feedback("fc1", "fc2", "fc1.feedback"))
    return g


def mapped(graph: Graph, lanes: int, store: str | None = None, bias_store: str | None = None,
           shared: bool = False, serial: bool = False, mac_registers: int = 0) -> Graph:
    """A copy of a quantized graph with its layers mapped onto ``lanes`` multipliers and their memories placed (the
    ``map-lanes`` and ``place-memories`` passes); ``store`` and ``bias_store`` override where the layers' outputs
    and biases live; ``shared`` makes the layers share their forward multipliers (``share-multipliers``);
    ``serial`` gives the layers a serial writeback where it keeps up (``serialize-outputs``); ``mac_registers``
    puts that many registers around every lane's multiplier (as ``fit-device`` does for an ECP5)."""
    import copy
    from dataclasses import replace

    from compiler.passes import PassManager
    from compiler.passes.map_lanes import MapLanes
    from compiler.passes.place_memories import PlaceMemories
    from compiler.passes.serialize_outputs import SerializeOutputs
    from compiler.passes.share_multipliers import ShareMultipliers
    from ir.dialects import digital

    out = PassManager([MapLanes(lanes=lanes), PlaceMemories()]).run(copy.deepcopy(graph))
    if store is not None:  # "memory", "registers", or "mixed": layers alternate, the first in memory
        dense = [n for n in out.toposort() if isinstance(out.op(n), digital.Dense)]
        for k, node in enumerate(dense):
            where = ("memory", "registers")[k % 2] if store == "mixed" else store
            out.replace(node, replace(out.op_as(node, digital.Dense), store=where))
    for node, op in out.nodes():
        if isinstance(op, digital.Dense):
            out.replace(node, replace(op, bias_store=bias_store or op.bias_store, mac_registers=mac_registers))
    later = [*([ShareMultipliers()] if shared else []), *([SerializeOutputs()] if serial else [])]
    return PassManager(later).run(out)
