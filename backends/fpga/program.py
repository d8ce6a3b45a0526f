"""What a host does with the hardware, as a list of steps both simulators run the same way.

- :class:`Infer`: stream input codes in (one word per transfer), collect each prediction's output words;
- :class:`Train`: the same with ``train`` high and each input followed by its label: the hardware predicts,
  then updates its weights with the compiled rule;
- :class:`ReadWeights`: read every weight of every layer through the weight port;
- :class:`LoadWeights`: write every weight of every layer through the weight port, one per cycle (what a host
  does first where the bitstream holds no weights: a shared datapath's SPRAM).

Between steps the host waits until the hardware is ``idle`` (nothing received, computing or sending), and
changes ``train`` only then. Each streaming step reports its output words ``(n, outputs)`` and the cycles each
sample took: from the previous sample's last output word (the step's start, for the first) to its own, so the
first is the latency and the rest the steady-state interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Infer:
    x: np.ndarray  # input codes (n, inputs)

    def words(self) -> list[int]:
        return self.x.astype(np.int64).ravel().tolist()


@dataclass(frozen=True)
class Train:
    x: np.ndarray        # input codes (n, inputs)
    labels: np.ndarray   # (n,) class indices

    def words(self) -> list[int]:
        both = np.concatenate([self.x.astype(np.int64), self.labels.astype(np.int64)[:, None]], axis=1)
        return both.ravel().tolist()


@dataclass(frozen=True)
class ReadWeights:
    pass


@dataclass(frozen=True)
class LoadWeights:
    weights: tuple[np.ndarray, ...]  # one (out, in) integer matrix per layer

    def values(self) -> list[int]:
        """Every weight in the order written: layer by layer, row by row."""
        return [int(v) for w in self.weights for v in np.asarray(w, dtype=np.int64).ravel()]


Step = Infer | Train | ReadWeights | LoadWeights


@dataclass(frozen=True)
class Streamed:
    words: np.ndarray   # (n, outputs)
    cycles: list[int]


Result = Streamed | list[np.ndarray]
"""A streaming step's outputs, or (``ReadWeights``) one ``(out, in)`` integer matrix per layer (``LoadWeights``:
none, an empty list)."""
