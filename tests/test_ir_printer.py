from pathlib import Path

import numpy as np

from ir import Graph, print_graph
from ir.dialects import learn, nn

GOLDEN = Path(__file__).parent / "golden" / "printer_small.txt"


def golden_graph() -> Graph:
    g = Graph("golden")
    g.add("x", nn.Input("x", (3,)))
    g.add_param("fc1.weight", np.arange(12, dtype=np.float64).reshape(4, 3) / 10)
    g.add_param("fc1.bias", np.linspace(-1, 1, 4))
    g.add("fc1", nn.Dense(3, 4, "fc1.weight", "fc1.bias"), ["x"])
    g.add("act1", nn.Activation("tanh"), ["fc1"])
    g.add_param("fc2.weight", -np.ones((2, 4)))
    g.add("fc2", nn.Dense(4, 2, "fc2.weight"), ["act1"])
    g.add("out", nn.Output("logits"), ["fc2"])
    g.add("rule", learn.Rule("dfa", (("lr", 0.001), ("optimizer", "adam")), 3))
    g.add_param("fc1.feedback", np.eye(4, 2))
    g.add("feedback1", learn.Feedback("fc1", "fc2", "fc1.feedback"))
    g.meta = {"dataset": "digits", "history": [{"epoch": i} for i in range(1, 11)], "seed": 3}
    return g


def test_printer_matches_golden_text():
    assert print_graph(golden_graph()) == GOLDEN.read_text()


def test_printer_is_deterministic():
    assert print_graph(golden_graph()) == print_graph(golden_graph())


DIGITAL_GOLDEN = Path(__file__).parent / "golden" / "printer_digital.txt"


def digital_golden_graph() -> Graph:
    """The golden network quantized (8 bits) with the on-chip DFA engine, mapped onto 2 lanes: every number the
    fpga backend reads, printed."""
    from compiler.passes import PassManager
    from compiler.pipelines import learning_pipeline

    g = golden_graph()
    g.replace("act1", nn.Activation("relu"))
    calibration = np.linspace(0, 1, 30).reshape(10, 3)
    return PassManager(learning_pipeline(calibration, "dfa", lr_shift=5, weight_bits=10, lanes=2)).run(g)


def test_digital_printer_matches_golden_text():
    assert print_graph(digital_golden_graph()) == DIGITAL_GOLDEN.read_text()
