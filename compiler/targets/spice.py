"""The spice target: resistive crossbars as a SPICE netlist, simulated by ngspice and verified against the analog
reference (``compiler/verify.py``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import ir
from backends.folder import Layout
from backends.spice import emit as spice_emit
from backends.spice.emit import LAYOUT
from backends.spice.run import SpiceFolder, simulate
from compiler.accelerate import batch_ops
from compiler.evaluate import single_output
from compiler.options import SEED_MAX, Choice, Int, Num, Options, option
from compiler.passes import Pass
from compiler.pipelines import spice_pipeline
from compiler.plots import conductance_maps, verify_scatter, write_plot
from compiler.targets.base import check_simulator, simulator_option
from compiler.verify import SPICE_SAMPLE, verify_spice
from errors import ConfigError
from ir import Graph
from ir.dialects import analog
from ir.dialects.analog import DEVICE_MODELS
from learning.datasets import Dataset


@dataclass(frozen=True)
class SpiceOptions(Options):
    """How ``lower-analog`` builds the circuit (its fields, one flag each)."""
    tile: int = option(64, Int(2, 1024), "crossbar tile size (rows and columns); default 64")
    g_min: float = option(1e-6, Num(positive=True), "device conductance range, siemens (1e-6)")
    g_max: float = option(1e-4, Num(positive=True), "(1e-4)")
    v_read: float = option(0.2, Num(positive=True), "read voltage range, ± volts (0.2)")
    r_wire: float = option(0.0, Num(0.0), "wire resistance per cell segment, ohms (0)")
    r_source: float = option(0.0, Num(0.0), "row driver resistance, ohms (0)")
    r_sense: float = option(0.0, Num(0.0), "column sense resistance, ohms (0)")
    opamp_gain: float = option(1e6, Num(positive=True), "op-amp open-loop gain (1e6)")
    levels: int = option(0, Int(2, 1 << 16, also=(0,), what="0 (continuous) or an integer in [2, 65536]"),
                         "conductance levels (0: continuous)")
    variation: float = option(0.0, Num(0.0, 2.0), "device-to-device variation, lognormal sigma in [0, 2] (0)")
    stuck_on: float = option(0.0, Num(0.0, 1.0), "fraction of devices stuck at G_max (0)")
    stuck_off: float = option(0.0, Num(0.0, 1.0), "fraction of devices stuck at G_min (0)")
    device: str = option("linear", Choice(*DEVICE_MODELS), "the devices' I-V: linear (default), or sinh or cubic "
                         "(small-signal conductance G, I = G v0 sinh(V/v0) or G V (1 + (V/v0)^2))")
    device_v0: float = option(0.25, Num(positive=True), "the nonlinear devices' characteristic voltage v0 (0.25 V)")
    selector_g: float = option(0.0, Num(0.0), "a selector in series with every device (1S1R, I = G_s v_s sinh(V/v_s)):"
                               " its small-signal conductance G_s in siemens; 0: none (0)")
    selector_v0: float = option(0.05, Num(positive=True), "the selector's characteristic voltage v_s (0.05 V)")
    seed: int = option(0, Int(0, SEED_MAX), "seed of the device non-idealities (0)")

    def check(self) -> None:
        if self.g_min >= self.g_max:
            raise ConfigError(f"--g-min {self.g_min!r} must be below --g-max {self.g_max!r}")
        if self.stuck_on + self.stuck_off > 1:
            raise ConfigError(f"--stuck-on {self.stuck_on!r} and --stuck-off {self.stuck_off!r} add up to "
                              f"{self.stuck_on + self.stuck_off:g}: together they must be at most 1")


RUNNER_HELP = "spice, ngspice: shared (PySpice's libngspice interface, default) or subprocess (ngspice -b)"


@dataclass(frozen=True)
class SpiceSimulateOptions(Options):
    simulator: str | None = simulator_option()
    runner: str = option("shared", Choice("shared", "subprocess"), RUNNER_HELP)

    def check(self) -> None:
        check_simulator("spice", self.simulator)


@dataclass(frozen=True)
class SpiceVerifyOptions(Options):
    runner: str = option("shared", Choice("shared", "subprocess"), RUNNER_HELP)
    spice_sample: int = option(SPICE_SAMPLE, Int(0, 10_000_000), "spice: the test inputs (spread evenly over the "
                               f"set) that also run in ngspice, to judge the fast simulator; 0: none ({SPICE_SAMPLE})")


class SpiceTarget:
    name: ClassVar[str] = "spice"
    layout: ClassVar[Layout] = LAYOUT
    options: ClassVar[type[Options]] = SpiceOptions
    simulate_options: ClassVar[type[Options]] = SpiceSimulateOptions
    verify_options: ClassVar[type[Options]] = SpiceVerifyOptions

    def pipeline(self, graph: Graph, options: Any, calibration: Callable[[], np.ndarray]) -> list[Pass]:
        if graph.find("analog.crossbar"):  # already lowered: its circuit is decided
            if options != SpiceOptions():
                raise ConfigError(f"model {graph.name!r} is already lowered for the spice target, so its circuit "
                                  "options are decided: compile the float model (the folder's source.ncm) instead")
            return []
        return spice_pipeline(calibration(), **{name: getattr(options, name) for name, *_ in options.specs()})

    def emit(self, graph: Graph, output: str | os.PathLike[str], options: Any, source: Graph | None,
             inputs: Iterable[str | os.PathLike[str]]) -> Path:
        def plots(folder: Path) -> None:
            maps = {n: (graph.params[op.g_pos], graph.params[op.g_neg]) for n, op in graph.nodes()
                    if isinstance(op, analog.Crossbar)}
            conductance_maps(maps, folder / "conductances.png")

        return spice_emit(graph, output, source=source, inputs=inputs, finish=plots)

    def load(self, path: str | os.PathLike[str], trust_edits: bool = False) -> SpiceFolder:
        folder = SpiceFolder.load(path, trust_edits=trust_edits)
        if folder.edited:
            logging.getLogger("neurocc").warning("circuit.cir of %r was edited by hand; simulating the edited "
                                                 "netlist", str(path))
        return folder

    def summary(self, loaded: SpiceFolder) -> dict[str, Any]:
        m = loaded.manifest
        return {"elements": m["elements"], "tiles": m["tiles"], "budget_volts": m["budget_volts"]}

    def simulate(self, loaded: SpiceFolder, data: Dataset, limit: int | None, options: Any, progress: bool,
                 plot: str | None) -> dict[str, Any]:
        x = data.x_test[:limit]
        simulator = check_simulator("spice", options.simulator)
        sim = simulate(loaded, x.astype(np.float64), progress=progress, runner=options.runner, simulator=simulator,
                       ops=batch_ops(len(x)))
        acc = float((sim["logits"].argmax(axis=1) == data.y_test[: len(x)]).mean())
        return {"dataset": data.name, "samples": len(x), "simulator": simulator, "accuracy": acc}

    def verify(self, loaded: SpiceFolder, data: Dataset, limit: int | None, options: Any, progress: bool,
               plot: str | None) -> dict[str, Any]:
        float_logits = None
        if "source.ncm" in loaded.manifest["files"]:  # the float model: decisions are compared with it too
            float_logits = single_output(ir.load(loaded.path / "source.ncm"), data.x_test[:limit])
        result = verify_spice(loaded, data, float_logits, limit, progress=progress, runner=options.runner,
                              spice_sample=options.spice_sample)
        written = write_plot(plot, loaded.path / "verify.png", verify_scatter, result.ref_volts, result.sim_volts,
                             f"fast simulator vs reference ({result.report['samples']} inputs)")
        return {**result.report, "plot": written}

    def describe(self, command: str, report: dict[str, Any]) -> list[str]:
        r = report
        if command == "compile":
            return [f"compiled {r['model']} for spice: {r['elements']} elements in {r['output']}/circuit.cir"]
        if command == "simulate":
            return [f"{r['simulator']} on {r['samples']} {r['dataset']} test inputs: accuracy {r['accuracy']:.4f}"]
        lines = [f"fast simulator against the reference on {r['samples']} inputs:",
                 f"  linear stage: max {r['linear_max_rel_error']:.2e}, mean {r['linear_mean_rel_error']:.2e} of full "
                 f"scale (tolerance {r['linear_tolerance']:.0e})",
                 f"  outputs: max {r['output_max_error_volts']:.2e} V, mean {r['output_mean_error_volts']:.2e} V "
                 f"(budget {r['output_tolerance_volts']:.2e} V)",
                 f"  decisions agree on {r['decision_agreement_with_reference']:.2%}; accuracy "
                 f"{r['circuit_accuracy']:.4f} in the circuit, {r['reference_accuracy']:.4f} reference"]
        if "ngspice" in r:
            n = r["ngspice"]
            lines.append(f"fast simulator against ngspice on {n['samples']} of them: outputs max "
                         f"{n['output_max_rel_error']:.2e}, linear stage max {n['linear_max_rel_error']:.2e} of full "
                         f"scale (tolerance {n['tolerance']:.0e}); decisions agree on {n['decision_agreement']:.2%}")
        if "float_accuracy" in r:
            lines.append(f"against the float network (reported, not checked): decisions agree on "
                         f"{r['decision_agreement_with_float']:.2%}, accuracy {r['float_accuracy']:.4f} float")
        return [*lines, "PASS" if r["passed"] else "FAIL"]

    def failure(self, report: dict[str, Any]) -> str:
        r, checks = report, report["checks"]
        why = []
        if not checks["linear"]:
            why.append(f"linear stage off by {r['linear_max_rel_error']:.3e} of full scale (tolerance "
                       f"{r['linear_tolerance']:.0e})")
        if not checks["outputs"]:
            why.append(f"outputs off by up to {r['output_max_error_volts']:.3e} V (budget "
                       f"{r['output_tolerance_volts']:.3e} V)")
        if not checks["decisions"]:
            why.append(f"decisions agree with the reference on {r['decision_agreement_with_reference']:.2%}, "
                       f"below {r['min_agreement']:.0%}")
        if not checks.get("ngspice", True):
            n = r["ngspice"]
            worst = max(n["output_max_rel_error"], n["linear_max_rel_error"])
            why.append(f"the fast simulator and ngspice differ by up to {worst:.3e} of full scale (tolerance "
                       f"{n['tolerance']:.0e}), decisions agree on {n['decision_agreement']:.2%}")
        return "verification failed: " + "; ".join(why)
