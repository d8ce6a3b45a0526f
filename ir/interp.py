"""The reference interpreter: executes a graph on a batch of inputs.

This is what every circuit is verified against, so the semantics of each op are defined here and nowhere else.
``nn`` ops run in float64 numpy; ``analog`` ops compute node voltages (:mod:`ir.interp_analog`); ``digital``
ops compute integers (:mod:`ir.interp_digital`). ``learn`` ops have no ports and are skipped by inference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from errors import UnsupportedOpError, VerifyError
from ir.activations import ACTIVATION_FNS
from ir.dialects import nn
from ir.graph import Graph
from ir.interp_analog import ANALOG_KERNELS
from ir.interp_digital import DIGITAL_KERNELS
from ir.op import Op

Kernel = Callable[[Op, list[np.ndarray], Mapping[str, np.ndarray]], list[np.ndarray]]




def _dense(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, nn.Dense)
    w = params[op.weight].astype(np.float64)
    y = ins[0] @ w.T
    if op.bias is not None:
        y = y + params[op.bias].astype(np.float64)
    return [y]


def _activation(op: Op, ins: list[np.ndarray], params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    assert isinstance(op, nn.Activation)
    return [ACTIVATION_FNS[op.fn](ins[0])]


KERNELS: dict[str, Kernel] = {
    nn.Dense.kind: _dense,
    nn.Activation.kind: _activation,
    **ANALOG_KERNELS,
    **DIGITAL_KERNELS,
}
"""Op kind → kernel. Inputs, outputs and port-less ops are handled by :func:`run` itself."""


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray,
        keep: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Execute ``graph`` on a batch; returns ``{output name: array of shape (batch, ...)}``, plus the ``out``
    value of every node named in ``keep`` under its node name.

    ``inputs`` maps input names to arrays of shape ``(batch, *shape)``; a bare array feeds a single-input graph.
    """
    graph.verify()
    input_nodes = {graph.op_as(n, nn.Input).name: n for n in graph.find(nn.Input.kind)}
    if isinstance(inputs, np.ndarray):
        if len(input_nodes) != 1:
            raise VerifyError(f"graph {graph.name!r} has {len(input_nodes)} inputs; pass a dict of arrays")
        inputs = {next(iter(input_nodes)): inputs}
    values: dict[tuple[str, str], np.ndarray] = {}
    results: dict[str, np.ndarray] = {}
    for name in graph.toposort():
        op = graph.op(name)
        if isinstance(op, nn.Input):
            if op.name not in inputs:
                raise VerifyError(f"input {op.name!r} of graph {graph.name!r} was not given")
            x = np.asarray(inputs[op.name], dtype=np.float64)
            if x.shape[1:] != op.shape:
                raise VerifyError(f"input {op.name!r} must have shape (batch, {', '.join(map(str, op.shape))}), "
                                  f"not {x.shape!r}")
            values[(name, "out")] = x
            continue
        ins = [values[src] for src in graph.sources(name)]
        if isinstance(op, nn.Output):
            results[op.name] = ins[0]
            continue
        if not op.inputs and not op.outputs:
            continue  # annotation ops (learn dialect)
        kernel = KERNELS.get(op.kind)
        if kernel is None:
            raise UnsupportedOpError(f"node {name!r}: the reference interpreter has no kernel for {op.kind}")
        for port, value in zip(op.outputs, kernel(op, ins, graph.params), strict=True):
            values[(name, port)] = value
    for name in keep:
        results[name] = values[(name, "out")]
    return results
