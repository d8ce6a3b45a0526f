"""Import a torch ``nn.Sequential`` (or a model trained by ``learning``) into the IR.

Supported layers: ``Linear`` → ``nn.dense``; ``ReLU``/``Tanh``/``Sigmoid``/``Hardtanh`` (default ±1 bounds)/
``Identity`` → ``nn.activation``. Anything else is an :class:`UnsupportedOpError` naming the layer. Weights are
copied as float64. Nodes are named ``x``, ``fc1``, ``act1``, ``fc2``, … ``out``; parameters ``fc1.weight``,
``fc1.bias``; feedback matrices ``fc1.feedback`` (``x.feedback`` for one into the input) and biases
``fc1.feedback_bias``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn as tnn

from errors import UnsupportedOpError, VerifyError
from ir import Graph
from ir.dialects import learn, nn

_ACTIVATIONS: dict[type[tnn.Module], str] = {
    tnn.ReLU: "relu",
    tnn.Tanh: "tanh",
    tnn.Sigmoid: "sigmoid",
    tnn.Hardtanh: "hardtanh",
    tnn.Identity: "identity",
}
SUPPORTED = "Linear, ReLU, Tanh, Sigmoid, Hardtanh(-1, 1), Identity"


def _layer_name(index: int, module: tnn.Module) -> str:
    return f"layer {index} ({type(module).__name__})"


def from_sequential(seq: tnn.Sequential, name: str = "model", input_name: str = "x",
                    output_name: str = "logits") -> Graph:
    """The ``nn``-dialect graph of ``seq``; the input width is the first ``Linear``'s ``in_features``."""
    if not isinstance(seq, tnn.Sequential):
        raise UnsupportedOpError(f"the frontend imports a torch nn.Sequential, not {type(seq).__name__}")
    modules = list(seq)
    linears = [m for m in modules if isinstance(m, tnn.Linear)]
    for i, m in enumerate(modules):
        kind = type(m)
        if kind is not tnn.Linear and kind not in _ACTIVATIONS:
            raise UnsupportedOpError(f"{_layer_name(i, m)} of the nn.Sequential is not supported: "
                                     f"neurocc imports {SUPPORTED}")
        if isinstance(m, tnn.Hardtanh) and (m.min_val != -1.0 or m.max_val != 1.0):
            raise UnsupportedOpError(f"{_layer_name(i, m)} must clamp to (-1.0, 1.0), "
                                     f"not ({m.min_val!r}, {m.max_val!r})")
    if not linears:
        raise UnsupportedOpError("the nn.Sequential must contain at least one Linear layer")
    graph = Graph(name)
    prev = graph.add("x", nn.Input(input_name, (linears[0].in_features,)))
    n_fc = n_act = 0
    for i, m in enumerate(modules):
        if isinstance(m, tnn.Linear):
            n_fc += 1
            node = f"fc{n_fc}"
            w = graph.add_param(f"{node}.weight", m.weight.detach().cpu().double().numpy().copy())
            b = None
            if m.bias is not None:
                b = graph.add_param(f"{node}.bias", m.bias.detach().cpu().double().numpy().copy())
            op: Any = nn.Dense(m.in_features, m.out_features, w, b)
        else:
            n_act += 1
            node = f"act{n_act}"
            op = nn.Activation(_ACTIVATIONS[type(m)])
        try:
            prev = graph.add(node, op, [prev])
            graph.verify()
        except VerifyError as e:
            raise VerifyError(f"{_layer_name(i, m)} of the nn.Sequential does not fit the layer before it: {e}") from e
    graph.add("out", nn.Output(output_name), [prev])
    graph.verify()
    return graph


def from_trained(result: Any, name: str | None = None) -> Graph:
    """The graph of a :class:`learning.TrainResult`: network, ``learn`` ops for its rule, training metadata."""
    config = result.config
    graph = from_sequential(result.net.to_sequential(), name or f"{config.dataset}-{config.rule}")
    record = result.rule.record(config.common_hyper(), config.seed)
    graph.add("rule", learn.Rule(record.rule, tuple(sorted(record.hyper.items())), record.seed))
    dense = graph.find(nn.Dense.kind)
    for i, path in enumerate(record.feedback, start=1):
        target = "x" if path.target == -1 else dense[path.target]
        matrix = graph.add_param(f"{target}.feedback", np.asarray(path.matrix, dtype=np.float64))
        bias = None
        if path.bias is not None:
            bias = graph.add_param(f"{target}.feedback_bias", np.asarray(path.bias, dtype=np.float64))
        graph.add(f"feedback{i}", learn.Feedback(target, dense[path.source], matrix, bias))
    graph.meta = {
        "dataset": config.dataset,
        "seed": config.seed,
        "hidden": list(config.hidden),
        "history": [{"epoch": h.epoch, "loss": round(h.loss, 6), "test_accuracy": h.test_accuracy,
                     "train_accuracy": h.train_accuracy} for h in result.history],
        "test_accuracy": result.test_accuracy,
    }
    graph.verify()
    return graph
