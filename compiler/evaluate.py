"""Accuracy of a model file under the reference interpreter on a data set's test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from errors import DataError
from ir import Graph, interp
from ir.dialects import nn
from learning.datasets import Dataset


@dataclass(frozen=True)
class EvalResult:
    dataset: str
    samples: int
    accuracy: float
    predictions: np.ndarray


def single_output(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The one output of ``graph`` on inputs ``x`` (the reference interpreter); a graph with more is an error."""
    outputs = interp.run(graph, x.astype(np.float64))
    if len(outputs) != 1:
        raise DataError(f"model {graph.name!r} must have one output to classify, not {len(outputs)}")
    (logits,) = outputs.values()
    if logits.ndim != 2:
        raise DataError(f"model {graph.name!r} must output a vector per input to classify, not shape "
                        f"{logits.shape[1:]!r}")
    return logits


def reference_accuracy(graph: Graph, data: Dataset, batch: int = 4096) -> EvalResult:
    """Run the float reference on the whole test split and count correct arg-max decisions."""
    inputs = [graph.op(n) for n in graph.find(nn.Input.kind)]
    if len(inputs) != 1:
        raise DataError(f"model {graph.name!r} must have one input to classify, not {len(inputs)}")
    (inp,) = inputs
    assert isinstance(inp, nn.Input)
    if inp.shape != (data.n_features,):
        raise DataError(f"model {graph.name!r} takes inputs of shape {inp.shape!r}, but data set {data.name!r} "
                        f"has {data.n_features} features")
    preds = []
    for i in range(0, len(data.x_test), batch):
        logits = single_output(graph, data.x_test[i:i + batch])
        if logits.shape[1] != data.n_classes:
            raise DataError(f"model {graph.name!r} has {logits.shape[1]} outputs, but data set {data.name!r} "
                            f"has {data.n_classes} classes")
        preds.append(logits.argmax(axis=1))
    pred = np.concatenate(preds)
    return EvalResult(data.name, len(pred), float((pred == data.y_test).mean()), pred)


def quantized_accuracy(graph: Graph, data: Dataset, weight_bits: int, act_bits: int) -> EvalResult:
    """Accuracy of ``graph`` quantized to fixed point (``quantize`` pipeline, calibrated on the training split)
    under the integer reference; ``graph`` itself is left as it is."""
    import copy

    from compiler.passes import PassManager
    from compiler.pipelines import quantize_pipeline

    quantized = copy.deepcopy(graph)
    PassManager(quantize_pipeline(data.x_train, weight_bits, act_bits)).run(quantized)
    return reference_accuracy(quantized, data)
