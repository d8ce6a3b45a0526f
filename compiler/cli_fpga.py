"""The ``neurocc`` commands on the fpga target: compile (optionally with a learning engine), simulate (inference
or on-chip training) and verify (inference words, or every weight after on-chip training steps)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

import numpy as np

import ir
from compiler.cli_common import VerifyFailed, folder_data, write_plot
from ir.errors import ConfigError


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def learn_rule(args: argparse.Namespace, graph: ir.Graph) -> str:
    """``--learn RULE``, or the rule recorded in the model (``--learn`` alone)."""
    if args.learn != "model":
        return str(args.learn)
    recorded = graph.find("learn.rule")
    if not recorded:
        raise ConfigError(f"model {args.model!r} records no learning rule: name one, --learn dfa|hebbian|oja")
    return str(graph.op(recorded[0]).rule)  # type: ignore[attr-defined]


def compile_fpga(args: argparse.Namespace, graph: ir.Graph, source: ir.Graph,
                 calibration: np.ndarray) -> dict[str, Any]:
    from backends import TARGETS
    from compiler.passes import PassManager
    from compiler.pipelines import learning_pipeline, quantize_pipeline

    caught: list[str] = []
    if args.learn:
        rule = learn_rule(args, graph)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            weight_bits = 16 if args.weight_bits is None else args.weight_bits
            PassManager(learning_pipeline(calibration, rule, args.lr_shift, weight_bits, args.act_bits)).run(graph)
        caught = [str(w.message) for w in seen]
        for message in caught:
            print(f"warning: {message}", file=sys.stderr)
    else:
        weight_bits = 8 if args.weight_bits is None else args.weight_bits
        PassManager(quantize_pipeline(calibration, weight_bits, args.act_bits)).run(graph)
    out = TARGETS["fpga"](graph, args.output, lanes=args.pe, source=source, inputs=[args.model])
    info = json.loads((out / "manifest.json").read_text())
    report = {"output": str(out), "target": "fpga", "pe": args.pe, "cycles_per_inference": info["cycles_per_inference"],
              "latency_cycles": info["latency_cycles"], "multipliers": info["multipliers"], "warnings": caught}
    text = (f"compiled {args.model} for fpga ({args.pe} lanes): {out}/network.v, {info['cycles_per_inference']} "
            f"cycles per inference ({info['latency_cycles']} latency)")
    if "learning" in info:
        learning = info["learning"]
        report.update(learn=learning["rule"], lr_shift=learning["lr_shift"],
                      cycles_per_training_sample=learning["cycles_per_training_sample"])
        text += (f"; on-chip {learning['rule']} (learning rate 2^-{learning['lr_shift']}): "
                 f"{learning['cycles_per_training_sample']} cycles per training sample")
    if not args.json:
        print(text)
    return report


def _load(args: argparse.Namespace):  # noqa: ANN202
    from backends.fpga.run import FpgaFolder

    folder = FpgaFolder.load(args.folder, trust_edits=args.trust_edits)
    return folder, folder_data(args.folder, folder.graph, args.dataset)


def _inference(args: argparse.Namespace) -> dict[str, Any]:
    from backends.fpga.run import run_hardware

    folder, data = _load(args)
    x, y = data.x_test[: args.limit], data.y_test[: args.limit]
    run = run_hardware(folder, x, args.simulator)
    equal = run["hardware"] == run["reference"]
    report = {"folder": args.folder, "dataset": data.name, "samples": len(x), "simulator": args.simulator,
              "output_words": int(equal.size), "mismatched_words": int((~equal).sum()),
              "hardware_accuracy": float((run["hardware"].argmax(axis=1) == y).mean()),
              "latency_cycles": run["cycles"][0],
              "cycles_per_inference": sorted(set(run["cycles"][1:] or run["cycles"])),
              "manifest_cycles_per_inference": folder.manifest["cycles_per_inference"]}
    report["passed"] = report["mismatched_words"] == 0
    return report


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    if args.train:
        return _train(args)
    report = _inference(args)
    if not args.json:
        print(f"hardware ({report['simulator']}) on {report['samples']} {report['dataset']} test inputs: accuracy "
              f"{report['hardware_accuracy']:.4f}, {report['cycles_per_inference']} cycles per inference")
    return report


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from backends.fpga.learn import train_on_chip
    from compiler.plots import onchip_curves

    folder, data = _load(args)
    report = train_on_chip(folder, data, args.epochs, args.simulator, args.limit, progress=_progress(args))
    plot = write_plot(args.plot, folder.path / "learning.png", onchip_curves, report,
                      f"on-chip {report['rule']} on {report['dataset']} ({report['simulator']})")
    report = {"folder": args.folder, **report, "plot": plot}
    if not args.json:
        print(f"trained on chip ({report['simulator']}): {report['epochs']} epochs over {report['train_samples']} "
              f"{report['dataset']} samples, {report['cycles_per_training_sample']} cycles per sample")
        print(f"test accuracy {report['initial_test_accuracy']:.4f} before, {report['test_accuracy']:.4f} after "
              f"(reference trainer {report['reference_test_accuracy_per_epoch'][-1]:.4f}); weights "
              f"{'equal' if report['weights_equal_reference'] else 'DIFFER FROM'} the reference's"
              + (f"; plot {plot}" if plot else ""))
    return report


def verify(args: argparse.Namespace) -> dict[str, Any]:
    if args.learn_steps is not None:
        return _verify_learning(args)
    report = _inference(args)
    if not args.json:
        print(f"{report['output_words'] - report['mismatched_words']} of {report['output_words']} output words "
              f"equal the integer reference ({report['samples']} inputs, {report['simulator']})")
        print("PASS" if report["passed"] else "FAIL")
    if not report["passed"]:
        raise VerifyFailed(report, f"verification failed: {report['mismatched_words']} of {report['output_words']} "
                                   "output words differ from the integer reference")
    return report


def _verify_learning(args: argparse.Namespace) -> dict[str, Any]:
    from backends.fpga.learn import verify_learning

    folder, data = _load(args)
    report = {"folder": args.folder, **verify_learning(folder, data, args.learn_steps, args.simulator,
                                                       _progress(args))}
    if not args.json:
        print(f"after {report['samples']} training samples ({report['rule']}, {report['simulator']}): "
              f"{report['weights'] - report['mismatched_weights']} of {report['weights']} weights equal the reference "
              f"trainer's ({sum(report['weights_changed_by_training'])} changed by training); "
              f"{report['output_words'] - report['mismatched_output_words']} of {report['output_words']} prediction "
              f"words equal; {report['cycles_per_training_sample']} cycles per training sample")
        print("PASS" if report["passed"] else "FAIL")
    if not report["passed"]:
        raise VerifyFailed(report, f"verification failed: {report['mismatched_weights']} weights and "
                                   f"{report['mismatched_output_words']} prediction words differ from the reference "
                                   "trainer")
    return report
