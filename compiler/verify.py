"""Verification of a compiled SPICE folder against the reference, on a whole data set.

Three checks, each against a tolerance stated here or derived by the compiler:

1. the linear stage (first crossbar and its transimpedance stages, finite gain included) agrees with the
   reference to ``LINEAR_TOLERANCE`` relative to the transimpedance full scale, on every input;
2. end to end through the activation circuits, the ADC-input voltages agree within the budget that
   ``lower-analog`` derived from the rectifier and op-amp parameters (plus ``LINEAR_TOLERANCE`` of full scale);
3. class decisions agree with the reference's on at least ``MIN_AGREEMENT`` of the inputs.

What the circuit costs against the float network (the model before lowering: the programmed devices' levels,
variation and stuck cells, the wires) is reported, decisions and accuracy, not checked: the reference already
holds those non-idealities, and it is the reference the circuit must equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.spice.run import SpiceFolder, simulate
from errors import ModelFormatError
from ir import interp
from ir.dialects import analog
from learning.datasets import Dataset

LINEAR_TOLERANCE = 1e-6
MIN_AGREEMENT = 0.99


@dataclass(frozen=True)
class SpiceReport:
    report: dict[str, Any]
    sim_volts: np.ndarray
    ref_volts: np.ndarray

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


def verify_spice(folder: SpiceFolder, data: Dataset, float_logits: np.ndarray | None, limit: int | None = None,
                 progress: bool = True, runner: str = "shared") -> SpiceReport:
    x = data.x_test[:limit].astype(np.float64)
    y = data.y_test[:limit]
    m = folder.manifest
    sim = simulate(folder, x, progress=progress, runner=runner)
    lin_node = m["linear_probes"]["node"]
    ref = interp.run(folder.graph, x, keep=(lin_node,))
    logits = ref[m["output_name"]]
    ref_volts = logits / m["outputs"]["scale"]
    (adc,) = [op for _, op in folder.graph.nodes() if isinstance(op, analog.Adc)]  # its budget, from lower-analog
    fullscale = adc.fullscale_volts
    lin_err = np.abs(sim["linear"] - ref[lin_node]) / fullscale
    out_err = np.abs(sim["volts"] - ref_volts)
    tolerance = adc.budget_volts + LINEAR_TOLERANCE * fullscale
    sim_pred = sim["logits"].argmax(axis=1)
    report: dict[str, Any] = {
        "samples": len(x),
        "linear_max_rel_error": float(lin_err.max()), "linear_mean_rel_error": float(lin_err.mean()),
        "linear_tolerance": LINEAR_TOLERANCE,
        "output_max_error_volts": float(out_err.max()), "output_mean_error_volts": float(out_err.mean()),
        "output_tolerance_volts": tolerance,
        "spice_accuracy": float((sim_pred == y).mean()),
        "reference_accuracy": float((logits.argmax(axis=1) == y).mean()),
        "decision_agreement_with_reference": float((sim_pred == logits.argmax(axis=1)).mean()),
    }
    report["checks"] = {"linear": bool(lin_err.max() <= LINEAR_TOLERANCE), "outputs": bool(out_err.max() <= tolerance),
                        "decisions": report["decision_agreement_with_reference"] >= MIN_AGREEMENT}
    report["min_agreement"] = MIN_AGREEMENT
    if float_logits is not None and float_logits[: len(x)].shape != logits.shape:
        raise ModelFormatError(f"folder {str(folder.path)!r}: source.ncm gives outputs of shape "
                               f"{float_logits.shape[1:]!r}, the circuit {logits.shape[1:]!r}")
    if float_logits is not None:
        float_pred = float_logits[: len(x)].argmax(axis=1)
        report["float_accuracy"] = float((float_pred == y).mean())
        report["decision_agreement_with_float"] = float((sim_pred == float_pred).mean())
    report["passed"] = all(report["checks"].values())
    return SpiceReport(report, sim["volts"], ref_volts)
