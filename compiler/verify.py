"""Verification of a compiled SPICE folder, on a whole data set: the fast simulator against the reference on every
input, and against ngspice on a sample.

Against the reference (every input, tolerances stated here or derived by the compiler):

1. the linear stage (first crossbar and its transimpedance stages, finite gain included) agrees to
   ``LINEAR_TOLERANCE`` relative to the transimpedance full scale;
2. end to end through the activation circuits, the ADC-input voltages agree within the budget that
   ``lower-analog`` derived from the rectifier and op-amp parameters (plus ``LINEAR_TOLERANCE`` of full scale);
3. class decisions agree with the reference's on at least ``MIN_AGREEMENT`` of the inputs.

Against ngspice (``spice_sample`` inputs spread evenly over the set, the same netlist text): the linear stage and
the ADC-input voltages agree to ``NGSPICE_TOLERANCE`` of full scale (both solve the same circuit exactly; what is
left is their convergence), and every decision is the same.

What the circuit costs against the float network (the model before lowering: the programmed devices' levels,
variation and stuck cells, the wires) is reported, decisions and accuracy, not checked: the reference already
holds those non-idealities, and it is the reference the circuit must equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.spice.run import SpiceFolder, simulate
from compiler.accelerate import batch_ops
from errors import ModelFormatError
from ir import interp
from ir.dialects import analog
from learning.datasets import Dataset

LINEAR_TOLERANCE = 1e-6
NGSPICE_TOLERANCE = 1e-6
MIN_AGREEMENT = 0.99
SPICE_SAMPLE = 32
"""Inputs that verification also runs in ngspice, by default."""


@dataclass(frozen=True)
class SpiceReport:
    report: dict[str, Any]
    sim_volts: np.ndarray
    ref_volts: np.ndarray

    @property
    def passed(self) -> bool:
        return bool(self.report["passed"])


def sample_indices(count: int, sample: int) -> np.ndarray:
    """``sample`` indices spread evenly over ``count`` inputs (all of them when ``sample ≥ count``)."""
    if sample >= count:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, sample).round().astype(np.int64))


def verify_spice(folder: SpiceFolder, data: Dataset, float_logits: np.ndarray | None, limit: int | None = None,
                 progress: bool = True, runner: str = "shared", spice_sample: int = SPICE_SAMPLE) -> SpiceReport:
    x = data.x_test[:limit].astype(np.float64)
    y = data.y_test[:limit]
    m = folder.manifest
    sim = simulate(folder, x, progress=progress, simulator="fast", ops=batch_ops(len(x)))
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
        "samples": len(x), "simulator": "fast",
        "linear_max_rel_error": float(lin_err.max()), "linear_mean_rel_error": float(lin_err.mean()),
        "linear_tolerance": LINEAR_TOLERANCE,
        "output_max_error_volts": float(out_err.max()), "output_mean_error_volts": float(out_err.mean()),
        "output_tolerance_volts": tolerance,
        "circuit_accuracy": float((sim_pred == y).mean()),
        "reference_accuracy": float((logits.argmax(axis=1) == y).mean()),
        "decision_agreement_with_reference": float((sim_pred == logits.argmax(axis=1)).mean()),
    }
    checks = {"linear": bool(lin_err.max() <= LINEAR_TOLERANCE), "outputs": bool(out_err.max() <= tolerance),
              "decisions": report["decision_agreement_with_reference"] >= MIN_AGREEMENT}
    picked = sample_indices(len(x), spice_sample) if spice_sample else np.zeros(0, dtype=np.int64)
    if len(picked):
        ng = simulate(folder, x[picked], progress=progress, runner=runner, simulator="ngspice")
        ng_out = np.abs(sim["volts"][picked] - ng["volts"]) / fullscale
        ng_lin = np.abs(sim["linear"][picked] - ng["linear"]) / fullscale
        same = float((ng["logits"].argmax(axis=1) == sim_pred[picked]).mean())
        report["ngspice"] = {"samples": len(picked), "output_max_rel_error": float(ng_out.max()),
                             "linear_max_rel_error": float(ng_lin.max()), "tolerance": NGSPICE_TOLERANCE,
                             "decision_agreement": same}
        checks["ngspice"] = bool(max(ng_out.max(), ng_lin.max()) <= NGSPICE_TOLERANCE and same == 1.0)
    report["checks"] = checks
    report["min_agreement"] = MIN_AGREEMENT
    if float_logits is not None and float_logits[: len(x)].shape != logits.shape:
        raise ModelFormatError(f"folder {str(folder.path)!r}: source.ncm gives outputs of shape "
                               f"{float_logits.shape[1:]!r}, the circuit {logits.shape[1:]!r}")
    if float_logits is not None:
        float_pred = float_logits[: len(x)].argmax(axis=1)
        report["float_accuracy"] = float((float_pred == y).mean())
        report["decision_agreement_with_float"] = float((sim_pred == float_pred).mean())
    report["passed"] = all(checks.values())
    return SpiceReport(report, sim["volts"], ref_volts)
