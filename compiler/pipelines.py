"""Pipelines: plain ordered lists of passes, read top to bottom."""

from __future__ import annotations

from typing import Any

import numpy as np

from compiler.passes import Pass
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog
from compiler.passes.map_lanes import MapLanes
from compiler.passes.onchip import OnChipLearning
from compiler.passes.place_memories import PlaceMemories
from compiler.passes.quantize import Quantize
from compiler.passes.serialize_outputs import SerializeOutputs


def spice_pipeline(calibration: np.ndarray, **options: Any) -> list[Pass]:
    return [
        FoldIdentity(),                                    # identity activations need no circuit
        LowerAnalog(calibration=calibration, **options),   # nn.dense/activation → crossbars, TIAs, rectifiers
    ]


def quantize_pipeline(calibration: np.ndarray, weight_bits: int = 8, act_bits: int = 8) -> list[Pass]:
    return [
        FoldIdentity(),                                                   # identity activations cost nothing
        Quantize(calibration=calibration, weight_bits=weight_bits, act_bits=act_bits),  # formats, integer weights
    ]


def fpga_pipeline(calibration: np.ndarray, weight_bits: int = 8, act_bits: int = 8, lanes: int = 8) -> list[Pass]:
    return [
        *quantize_pipeline(calibration, weight_bits, act_bits),
        MapLanes(lanes=lanes),                                            # each layer's share of the lanes
        PlaceMemories(),                                                   # layer outputs in block RAM
        SerializeOutputs(),                                                # one requantizer per layer where it keeps up
    ]


def learning_pipeline(calibration: np.ndarray, rule: str, lr_shift: int = 7, weight_bits: int = 16,
                      act_bits: int = 8, seed: int = 0, lanes: int = 8, biases: bool = True) -> list[Pass]:
    """Fixed point for hardware that keeps learning: weight formats cover ±2 and activations ±4 whatever the
    starting weights (they will move), accumulators sized for any weights of the format; ``biases``: the biases
    learn too."""
    return [
        FoldIdentity(),
        Quantize(calibration=calibration, weight_bits=weight_bits, act_bits=act_bits, weight_range=2.0,
                 act_range=4.0, learnable=True),
        OnChipLearning(rule=rule, lr_shift=lr_shift, seed=seed, biases=biases),  # error format, feedback, biases
        MapLanes(lanes=lanes),                                     # each layer's share of the lanes
        PlaceMemories(),                                            # outputs the engine reads stay in registers
        SerializeOutputs(),                                         # one requantizer per layer where it keeps up
    ]
