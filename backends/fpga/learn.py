"""On-chip learning runs: train the folder's hardware on a data set and check it against the reference trainer.

Both runs drive the hardware through a host program (:mod:`backends.fpga.program`) and replay exactly the same
samples through :class:`ir.interp_learn.Trainer`, so every weight can be compared bit for bit.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

import numpy as np

from backends.fpga.program import Infer, ReadWeights, Step, Streamed, Train
from backends.fpga.run import FpgaFolder, input_codes, model_weights, run_steps
from errors import ConfigError
from ir.interp_learn import Trainer


class Dataset(Protocol):
    """What on-chip training reads from a data set (``learning.datasets.Dataset`` has it; backends do not import
    ``learning``, which would pull torch in)."""

    @property
    def name(self) -> str: ...
    @property
    def x_train(self) -> np.ndarray: ...
    @property
    def y_train(self) -> np.ndarray: ...
    @property
    def x_test(self) -> np.ndarray: ...
    @property
    def y_test(self) -> np.ndarray: ...


def _require_engine(folder: FpgaFolder) -> None:
    if not folder.learns:
        raise ConfigError(f"folder {str(folder.path)!r} has no learning engine: compile it with --learn "
                          "dfa|fa|pepita|ff|hebbian|oja")


def _interval(cycles: list[int]) -> list[int]:
    return sorted(set(cycles[1:] or cycles))


def verify_learning(folder: FpgaFolder, data: Dataset, steps: int, simulator: str = "verilator",
                    progress: bool = False) -> dict[str, Any]:
    """Train on the first ``steps`` training samples (cycling) in hardware and in the reference; compare every
    prediction word and then every weight."""
    _require_engine(folder)
    if not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"--learn-steps must be a positive integer, not {steps!r}")
    codes, labels = training_samples(folder, data, steps)
    hw_out, hw_weights = run_steps(folder, [Train(codes, labels), ReadWeights()], simulator, progress)
    assert isinstance(hw_out, Streamed) and isinstance(hw_weights, list)
    report = {"samples": steps, "simulator": simulator,
              **compare_training(folder, codes, labels, hw_out.words, hw_weights),
              "cycles_per_training_sample": _interval(hw_out.cycles),
              "manifest_cycles_per_training_sample": folder.manifest["learning"]["cycles_per_training_sample"]}
    report["passed"] = report["mismatched_weights"] == 0 and report["mismatched_output_words"] == 0
    return report


def training_samples(folder: FpgaFolder, data: Dataset, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The input codes and labels of the first ``steps`` training samples (cycling through the split)."""
    order = np.arange(steps) % len(data.x_train)
    return input_codes(folder.graph, data.x_train)[order], data.y_train[order]


def compare_training(folder: FpgaFolder, codes: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                     weights: list[np.ndarray]) -> dict[str, Any]:
    """The hardware's predictions and weights after training on ``codes``/``labels``, against the reference
    trainer's on the same samples: mismatch counts, and how many weights training changed."""
    reference = copy.deepcopy(folder.graph)
    trainer = Trainer(reference)
    ref_out = np.array([trainer.step(c, int(t)) for c, t in zip(codes, labels, strict=True)])
    ref_weights = model_weights(reference)
    differ = [int((h != r).sum()) for h, r in zip(weights, ref_weights, strict=True)]
    changed = [int((r != w).sum()) for r, w in zip(ref_weights, model_weights(folder.graph), strict=True)]
    return {"rule": folder.manifest["learning"]["rule"], "biases": bool(folder.manifest["learning"]["biases"]),
            "weights": int(sum(w.size for w in ref_weights)),
            "mismatched_weights": sum(differ), "mismatched_weights_per_layer": differ,
            "weights_changed_by_training": changed, "output_words": int(ref_out.size),
            "mismatched_output_words": int((predictions != ref_out).sum())}


def train_on_chip(folder: FpgaFolder, data: Dataset, epochs: int, simulator: str = "verilator",
                  limit: int | None = None, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """``epochs`` passes over the training split (a seeded shuffle each), the test split after each (both cut
    to ``limit`` samples when given); the same sample sequence through the reference trainer. Returns accuracies
    per epoch, hardware and reference."""
    _require_engine(folder)
    if not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"--epochs must be a positive integer, not {epochs!r}")
    graph = folder.graph
    train_codes, y_train = input_codes(graph, data.x_train)[:limit], data.y_train[:limit]
    test_codes, y_test = input_codes(graph, data.x_test)[:limit], data.y_test[:limit]
    orders = [np.random.default_rng(seed + e).permutation(len(train_codes)) for e in range(epochs)]
    steps: list[Step] = [Infer(test_codes)]
    for order in orders:
        steps += [Train(train_codes[order], y_train[order]), Infer(test_codes)]
    results = run_steps(folder, [*steps, ReadWeights()], simulator, progress)

    reference = copy.deepcopy(graph)
    trainer = Trainer(reference)
    ref_test = [_accuracy(trainer, test_codes, y_test)]
    for order in orders:
        for c, t in zip(train_codes[order], y_train[order], strict=True):
            trainer.step(c, int(t))
        ref_test.append(_accuracy(trainer, test_codes, y_test))
    streamed = [r for r in results if isinstance(r, Streamed)]
    hw_test = [float((r.words.argmax(axis=1) == y_test).mean()) for r in streamed[0::2]]
    hw_train = [float((r.words.argmax(axis=1) == y_train[o]).mean())
                for r, o in zip(streamed[1::2], orders, strict=True)]
    hw_weights = results[-1]
    assert isinstance(hw_weights, list)
    equal = all(np.array_equal(h, r) for h, r in zip(hw_weights, model_weights(reference), strict=True))
    return {"dataset": data.name, "simulator": simulator, "epochs": epochs, "train_samples": len(train_codes),
            "test_samples": len(test_codes), "rule": folder.manifest["learning"]["rule"],
            "test_accuracy": hw_test[-1], "initial_test_accuracy": hw_test[0],
            "test_accuracy_per_epoch": hw_test, "online_train_accuracy_per_epoch": hw_train,
            "reference_test_accuracy_per_epoch": ref_test, "weights_equal_reference": equal,
            "cycles_per_training_sample": _interval(streamed[1].cycles)}


def _accuracy(trainer: Trainer, codes: np.ndarray, labels: np.ndarray) -> float:
    _, hs = trainer.forward(codes)
    return float((hs[-1].argmax(axis=1) == labels).mean())
