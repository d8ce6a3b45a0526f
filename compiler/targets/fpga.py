"""The fpga target: fixed-point hardware in Amaranth, written as Verilog, simulated in Verilator or the Amaranth
simulator and verified word for word against the integer reference; with ``learn``, the learning rule on chip,
verified weight for weight against the integer reference trainer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from backends.folder import Layout
from backends.fpga import emit as fpga_emit
from backends.fpga.boards import BOARDS, get_board
from backends.fpga.build import BAUD, build_at_fmax
from backends.fpga.build import build as build_board
from backends.fpga.build import describe as describe_build
from backends.fpga.emit import LAYOUT, lanes_of
from backends.fpga.learn import train_on_chip, verify_learning
from backends.fpga.remote import SIMULATED_PORT, run_over_link
from backends.fpga.run import FpgaFolder, run_hardware
from compiler.options import Choice, Flag, Int, Lanes, NumOrAuto, Options, Text, option
from compiler.passes import Pass
from compiler.passes.fit_device import FitDevice
from compiler.passes.map_lanes import MapLanes
from compiler.passes.place_memories import PlaceMemories
from compiler.passes.serialize_outputs import SerializeOutputs
from compiler.passes.share_datapath import ShareDatapath
from compiler.pipelines import fpga_pipeline, learning_pipeline
from compiler.plots import onchip_curves, write_plot
from compiler.targets.base import check_simulator, simulator_option
from errors import ConfigError, ModelFormatError
from ir import Graph
from ir.dialects import digital, learn
from learning.datasets import Dataset

DEFAULT_PE = 8
DEFAULT_BOARD = "icebreaker"
"""What `neurocc build` builds for when neither the folder nor `--board` names a board."""


@dataclass(frozen=True)
class FpgaOptions(Options):
    """How the network is quantized and mapped onto lanes, and the learning engine, if any."""
    pe: int | str | None = option(None, Lanes(1024), f"fpga: parallel MAC lanes per layer ({DEFAULT_PE}; auto with "
                                                      "--board: the fastest that fits; an already compiled model "
                                                      "keeps its own)")
    board: str | None = option(None, Choice(*BOARDS), "fpga: fit the design to this board's device (with --pe "
                                                      "auto, the default then: the fastest lane count that fits)")
    weight_bits: int | None = option(None, Int(2, 32), "fpga: weight width (8; 16 with --learn)")
    act_bits: int = option(8, Int(2, 32), "fpga: activation width (8)")
    learn: str | None = option(None, Text(), "fpga: add an on-chip learning engine: dfa, fa, pepita, ff, hebbian or "
                                             "oja (alone: the model's own rule)", const="model")
    lr_shift: int = option(7, Int(0, 30), "fpga --learn: learning rate 2^-K (7)")
    fixed_biases: bool = option(False, Flag(), "fpga --learn: keep the biases as compiled (by default they learn "
                                               "too, each as the weight of a constant input 1.0)")
    datapath: str | None = option(None, Choice("layer", "shared"), "fpga: lanes of each layer's own (layer), or one "
                                  "lane array every layer uses in turn (shared: inference only, a multiply-"
                                  "accumulate cell per lane); default: what --board's device suits (shared on an "
                                  "iCE40), else layer")

    def check(self) -> None:
        if self.pe == "auto" and self.board is None:
            raise ConfigError("--pe auto needs --board: the lane count that fits depends on the device")
        if self.fixed_biases and self.learn is None:
            raise ConfigError("--fixed-biases applies to an on-chip learning engine: add --learn")
        if self.datapath == "shared" and self.learn is not None:
            raise ConfigError("--datapath shared computes inference only: an on-chip learning engine (--learn) needs "
                              "each layer's own lanes")


@dataclass(frozen=True)
class FpgaSimulateOptions(Options):
    simulator: str | None = simulator_option()
    train: bool = option(False, Flag(), "fpga with --learn: train on chip, then test")
    epochs: int = option(5, Int(1, 10_000), "simulate --train: passes over the training set (5)")

    def check(self) -> None:
        check_simulator("fpga", self.simulator)


@dataclass(frozen=True)
class FpgaVerifyOptions(Options):
    simulator: str | None = simulator_option()
    learn_steps: int | None = option(None, Int(1, 10_000_000), "fpga with --learn: train K samples in hardware and "
                                                               "in the reference trainer, compare every weight")

    def check(self) -> None:
        check_simulator("fpga", self.simulator)


@dataclass(frozen=True)
class FpgaBuildOptions(Options):
    board: str | None = option(None, Choice(*BOARDS), "the board to build for (default: the one the folder was "
                               "compiled for with --board, else icebreaker)")
    baud: int = option(BAUD, Int(300, 12_000_000), f"the host link's UART rate ({BAUD})")
    clock_mhz: float | str | None = option(None, NumOrAuto(), "run on the iCE40 PLL's clock closest to this from "
                                                               "below, or auto: 95 %% of the Fmax a first build at "
                                                               "the board's clock reaches (default: the board's "
                                                               "clock)")


@dataclass(frozen=True)
class FpgaRunOptions(Options):
    port: str = option(SIMULATED_PORT, Text(), "the serial port of the board (/dev/ttyUSB1), or verilator: the "
                                               "whole design, UART included, in Verilator behind a pseudo-terminal")
    baud: int = option(BAUD, Int(300, 12_000_000), f"the host link's UART rate ({BAUD})")
    learn_steps: int | None = option(None, Int(1, 10_000_000), "fpga with --learn: train K samples in hardware and "
                                                               "in the reference trainer, compare every weight")


def _rule(graph: Graph, asked: str) -> str:
    """``--learn RULE``, or the rule the model records (``--learn`` alone, given as ``model``)."""
    if asked != "model":
        return asked
    recorded = graph.find(learn.Rule.kind)
    if not recorded:
        raise ConfigError(f"model {graph.name!r} records no learning rule: name one, --learn "
                          "dfa|fa|pepita|ff|hebbian|oja")
    return graph.op_as(recorded[0], learn.Rule).rule


def _learned(report: dict[str, Any]) -> str:
    """What a learning report's ``weights`` count: the weights, and the biases where they learn."""
    return "weights and biases" if report.get("biases") else "weights"


def _compiled_board(loaded: FpgaFolder) -> str:
    """The board a folder was fitted to (``compile --board``), or the default one."""
    board = loaded.manifest.get("board", DEFAULT_BOARD)
    if board not in BOARDS:
        raise ModelFormatError(f"folder {str(loaded.path)!r}: its manifest names board {board!r}, not one of "
                               f"{', '.join(BOARDS)}")
    return str(board)


class FpgaTarget:
    name: ClassVar[str] = "fpga"
    layout: ClassVar[Layout] = LAYOUT
    options: ClassVar[type[Options]] = FpgaOptions
    simulate_options: ClassVar[type[Options]] = FpgaSimulateOptions
    verify_options: ClassVar[type[Options]] = FpgaVerifyOptions
    build_options: ClassVar[type[Options]] = FpgaBuildOptions
    run_options: ClassVar[type[Options]] = FpgaRunOptions

    def pipeline(self, graph: Graph, options: Any, calibration: Callable[[], np.ndarray]) -> list[Pass]:
        fit: list[Pass] = [FitDevice(board=options.board, lanes=options.pe or "auto",
                                     datapath=options.datapath or "auto")] if options.board else []
        lanes = options.pe if isinstance(options.pe, int) else DEFAULT_PE
        dense = [op for _, op in graph.nodes() if isinstance(op, digital.Dense)]
        # without a board, --datapath shared shares the lanes after they are mapped (a model compiled so keeps it)
        shared = options.datapath == "shared" or (options.datapath is None and bool(dense) and
                                                  all(op.datapath == "shared" for op in dense))
        share: list[Pass] = [ShareDatapath()] if shared and not fit else []
        if dense:  # already quantized: its formats are decided; only a new lane count remaps it
            if options.learn is not None or options.weight_bits is not None:
                raise ConfigError(f"model {graph.name!r} is already compiled for the fpga target: --learn and "
                                  "--weight-bits apply to a float model")
            place: list[Pass] = [PlaceMemories()] if not all(op.store and op.bias_store for op in dense) else []
            if fit:  # placed afresh: an earlier fit's moves were for its board and lane count
                return [PlaceMemories(), *fit]
            if options.pe is not None or options.datapath is not None or not all(op.mapped for op in dense):
                lanes = options.pe if isinstance(options.pe, int) else lanes_of(graph) if all(
                    op.mapped for op in dense) else DEFAULT_PE
                # placed and written back afresh: they depend on the mapping
                return [MapLanes(lanes=lanes), PlaceMemories(), SerializeOutputs(), *share]
            return place
        if options.learn is not None:
            weight_bits = 16 if options.weight_bits is None else options.weight_bits
            return [*learning_pipeline(calibration(), _rule(graph, options.learn), options.lr_shift, weight_bits,
                                       options.act_bits, lanes=lanes, biases=not options.fixed_biases), *fit]
        weight_bits = 8 if options.weight_bits is None else options.weight_bits
        return [*fpga_pipeline(calibration(), weight_bits, options.act_bits, lanes), *share, *fit]

    def emit(self, graph: Graph, output: str | os.PathLike[str], options: Any, source: Graph | None,
             inputs: Iterable[str | os.PathLike[str]]) -> Path:
        return fpga_emit(graph, output, source=source, inputs=inputs)

    def load(self, path: str | os.PathLike[str], trust_edits: bool = False) -> FpgaFolder:
        return FpgaFolder.load(path, trust_edits=trust_edits)

    def summary(self, loaded: FpgaFolder) -> dict[str, Any]:
        m = loaded.manifest
        report = {"pe": m["pe"], "cycles_per_inference": m["cycles_per_inference"],
                  "latency_cycles": m["latency_cycles"], "multipliers": m["multipliers"], "datapath": m["datapath"],
                  "weights_loaded_by_host": m["weights"] == "loaded"}
        if "learning" in m:
            report.update(learn=m["learning"]["rule"], lr_shift=m["learning"]["lr_shift"],
                          learn_biases=m["learning"]["biases"],
                          cycles_per_training_sample=m["learning"]["cycles_per_training_sample"])
        return report

    def _inference(self, loaded: FpgaFolder, data: Dataset, limit: int | None, simulator: str) -> dict[str, Any]:
        x, y = data.x_test[:limit], data.y_test[:limit]
        run = run_hardware(loaded, x, simulator)
        equal = run["hardware"] == run["reference"]
        report = {"dataset": data.name, "samples": len(x), "simulator": simulator,
                  "output_words": int(equal.size), "mismatched_words": int((~equal).sum()),
                  "hardware_accuracy": float((run["hardware"].argmax(axis=1) == y).mean()),
                  "latency_cycles": run["cycles"][0],
                  "cycles_per_inference": sorted(set(run["cycles"][1:] or run["cycles"])),
                  "manifest_cycles_per_inference": loaded.manifest["cycles_per_inference"]}
        report["passed"] = report["mismatched_words"] == 0
        return report

    def simulate(self, loaded: FpgaFolder, data: Dataset, limit: int | None, options: Any, progress: bool,
                 plot: str | None) -> dict[str, Any]:
        simulator = check_simulator("fpga", options.simulator)
        if not options.train:
            return self._inference(loaded, data, limit, simulator)
        report = train_on_chip(loaded, data, options.epochs, simulator, limit, progress=progress)
        written = write_plot(plot, loaded.path / "learning.png", onchip_curves, report,
                             f"on-chip {report['rule']} on {report['dataset']} ({report['simulator']})")
        return {**report, "plot": written}

    def verify(self, loaded: FpgaFolder, data: Dataset, limit: int | None, options: Any, progress: bool,
               plot: str | None) -> dict[str, Any]:
        simulator = check_simulator("fpga", options.simulator)
        if options.learn_steps is not None:
            return verify_learning(loaded, data, options.learn_steps, simulator, progress)
        return self._inference(loaded, data, limit, simulator)

    def build(self, loaded: FpgaFolder, options: Any, progress: bool) -> dict[str, Any]:
        board = get_board(options.board or _compiled_board(loaded))
        if options.clock_mhz == "auto":
            return build_at_fmax(loaded, board, options.baud)
        return build_board(loaded, board, options.baud, options.clock_mhz)

    def run(self, loaded: FpgaFolder, data: Dataset, limit: int | None, options: Any,
            progress: bool) -> dict[str, Any]:
        return run_over_link(loaded, data, options.port, options.baud, limit, options.learn_steps, progress)

    def describe(self, command: str, report: dict[str, Any]) -> list[str]:
        r = report
        if command == "build":
            return describe_build(r)
        if command == "run" and "weights" in r:
            return [f"over the host link ({r['port']}): {r['samples']} training samples ({r['rule']}); "
                    f"{r['weights'] - r['mismatched_weights']} of {r['weights']} {_learned(r)} read back equal the "
                    f"reference trainer's ({sum(r['weights_changed_by_training'])} changed); "
                    f"{r['output_words'] - r['mismatched_output_words']} of {r['output_words']} prediction words "
                    "equal", "PASS" if r["passed"] else "FAIL"]
        if command == "run":
            loaded = f" ({r['weights_loaded']:,} weights written first)" if "weights_loaded" in r else ""
            return [f"over the host link ({r['port']}){loaded}: {r['samples']} {r['dataset']} test inputs, accuracy "
                    f"{r['hardware_accuracy']:.4f}; {r['output_words'] - r['mismatched_words']} of "
                    f"{r['output_words']} output words equal the integer reference", "PASS" if r["passed"] else "FAIL"]
        if command == "compile":
            shared = ", one datapath shared by every layer" if r["datapath"] == "shared" else ""
            loaded = "; weights in SPRAM, loaded by the host" if r["weights_loaded_by_host"] else ""
            text = (f"compiled {r['model']} for fpga ({r['pe']} lanes{shared}): {r['output']}/network.v, "
                    f"{r['cycles_per_inference']} cycles per inference ({r['latency_cycles']} latency){loaded}")
            if "learn" in r:
                biases = ", the biases too" if r["learn_biases"] else ""
                text += (f"; on-chip {r['learn']} (learning rate 2^-{r['lr_shift']}{biases}): "
                         f"{r['cycles_per_training_sample']} cycles per training sample")
            return [text]
        if command == "simulate" and "epochs" in r:
            return [f"trained on chip ({r['simulator']}): {r['epochs']} epochs over {r['train_samples']} "
                    f"{r['dataset']} samples, {r['cycles_per_training_sample']} cycles per sample",
                    f"test accuracy {r['initial_test_accuracy']:.4f} before, {r['test_accuracy']:.4f} after "
                    f"(reference trainer {r['reference_test_accuracy_per_epoch'][-1]:.4f}); weights "
                    f"{'equal' if r['weights_equal_reference'] else 'DIFFER FROM'} the reference's"
                    + (f"; plot {r['plot']}" if r["plot"] else "")]
        if command == "simulate":
            return [f"hardware ({r['simulator']}) on {r['samples']} {r['dataset']} test inputs: accuracy "
                    f"{r['hardware_accuracy']:.4f}, {r['cycles_per_inference']} cycles per inference"]
        if "weights" in r:
            lines = [f"after {r['samples']} training samples ({r['rule']}, {r['simulator']}): "
                     f"{r['weights'] - r['mismatched_weights']} of {r['weights']} {_learned(r)} equal the reference "
                     f"trainer's ({sum(r['weights_changed_by_training'])} changed by training); "
                     f"{r['output_words'] - r['mismatched_output_words']} of {r['output_words']} prediction words "
                     f"equal; {r['cycles_per_training_sample']} cycles per training sample"]
        else:
            lines = [f"{r['output_words'] - r['mismatched_words']} of {r['output_words']} output words equal the "
                     f"integer reference ({r['samples']} inputs, {r['simulator']})"]
        return [*lines, "PASS" if r["passed"] else "FAIL"]

    def failure(self, report: dict[str, Any]) -> str:
        if "weights" in report:
            return (f"verification failed: {report['mismatched_weights']} weights and "
                    f"{report['mismatched_output_words']} prediction words differ from the reference trainer")
        return (f"verification failed: {report['mismatched_words']} of {report['output_words']} output words differ "
                "from the integer reference")
