"""The layer chain the hardware targets lower: input → (dense | activation)* → output."""

from __future__ import annotations

from ir import Graph
from ir.dialects import nn
from ir.errors import UnsupportedOpError


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
