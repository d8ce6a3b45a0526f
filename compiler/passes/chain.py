"""What the lowering passes share: the layer chain the hardware targets lower (input → (dense | activation)* →
output), and the peaks they scale by."""

from __future__ import annotations

import math

import numpy as np

from errors import LoweringError, UnsupportedOpError
from ir import Graph
from ir.dialects import nn


def peak(node: str, what: str, values: np.ndarray) -> float:
    """``max |values|``, which must be finite: a layer whose weights overflow float64 on the calibration data
    cannot be scaled into any circuit."""
    top = float(np.abs(values).max()) if values.size else 0.0
    if not math.isfinite(top):
        raise LoweringError(f"layer {node!r}: its {what} reach {top!r}, not a finite number: the model's values are "
                            "out of range")
    return top


def layer_chain(graph: Graph, target: str) -> list[str]:
    """The port-carrying nodes of a single-input, single-output chain, in order; anything else is unsupported."""
    order = [n for n in graph.toposort() if graph.op(n).inputs or graph.op(n).outputs]
    for n in order:
        op = graph.op(n)
        if not isinstance(op, (nn.Input, nn.Dense, nn.Activation, nn.Output)):
            raise UnsupportedOpError(f"node {n!r} ({op.kind}) has no {target} circuit: the {target} target lowers "
                                     "nn.dense and nn.activation")
    if len(graph.find(nn.Input.kind)) != 1 or len(graph.find(nn.Output.kind)) != 1:
        raise UnsupportedOpError(f"graph {graph.name!r} must have one input and one output for the {target} target")
    for n in order[:-1]:
        if len(graph.users(n)) != 1:
            raise UnsupportedOpError(f"node {n!r} feeds {len(graph.users(n))} nodes: the {target} target lowers "
                                     "a chain of layers")
    return order
