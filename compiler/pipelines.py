"""Pipelines: plain ordered lists of passes, read top to bottom."""

from __future__ import annotations

import numpy as np

from compiler.passes import Pass
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog


def spice_pipeline(calibration: np.ndarray, **options: float) -> list[Pass]:
    return [
        FoldIdentity(),                                    # identity activations need no circuit
        LowerAnalog(calibration=calibration, **options),   # nn.dense/activation → crossbars, TIAs, rectifiers
    ]
