"""Pipelines: plain ordered lists of passes, read top to bottom."""

from __future__ import annotations

import numpy as np

from compiler.passes import Pass
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog
from compiler.passes.quantize import Quantize


def spice_pipeline(calibration: np.ndarray, **options: float) -> list[Pass]:
    return [
        FoldIdentity(),                                    # identity activations need no circuit
        LowerAnalog(calibration=calibration, **options),   # nn.dense/activation → crossbars, TIAs, rectifiers
    ]


def quantize_pipeline(calibration: np.ndarray, weight_bits: int = 8, act_bits: int = 8) -> list[Pass]:
    return [
        FoldIdentity(),                                                   # identity activations cost nothing
        Quantize(calibration=calibration, weight_bits=weight_bits, act_bits=act_bits),  # formats, integer weights
    ]
