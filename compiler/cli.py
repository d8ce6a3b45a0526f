"""The ``neurocc`` command line: train, inspect, eval, compile, simulate, verify, rules.

Every command takes ``--json`` for machine-readable output on stdout. A :class:`NeuroccError` prints
``error: <message>`` on stderr and exits 1; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import ir
from compiler.cli_common import VerifyFailed, folder_data
from compiler.cli_fpga import compile_fpga
from compiler.cli_fpga import simulate as simulate_fpga
from compiler.cli_fpga import verify as verify_fpga
from ir.errors import ConfigError, NeuroccError, UnsupportedOpError


def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"option {text!r} must be written key=value")
    for cast in (int, float):
        try:
            return key, cast(raw)
        except ValueError:
            pass
    if raw in ("true", "false"):
        return key, raw == "true"
    return key, raw


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from compiler.frontend import from_trained
    from learning import TrainConfig, train

    config = TrainConfig(
        rule=args.rule, dataset=args.dataset, hidden=tuple(args.hidden), activation=args.activation,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
        device=args.device, options=dict(_parse_option(o) for o in args.set),
    )
    result = train(config, progress=not args.quiet and sys.stderr.isatty())
    graph = from_trained(result)
    ir.save(graph, args.output)
    report: dict[str, Any] = {
        "model": args.output, "rule": config.rule, "dataset": config.dataset, "hidden": list(config.hidden),
        "epochs": config.epochs, "seed": config.seed, "test_accuracy": result.test_accuracy,
        "seconds_per_epoch": sum(h.seconds for h in result.history) / max(len(result.history), 1),
    }
    if args.plot and result.history:
        from compiler.plots import training_curves

        training_curves(result.history_dicts(), f"{config.rule} on {config.dataset}", args.plot)
        report["plot"] = args.plot
    if not args.json:
        print(f"trained {config.rule} on {config.dataset} ({len(result.dataset.x_train)} samples, "
              f"{config.epochs} epochs): test accuracy {result.test_accuracy:.4f}")
        print(f"wrote {args.output}" + (f" and {args.plot}" if args.plot else ""))
    return report


def cmd_inspect(args: argparse.Namespace) -> dict[str, Any]:
    from ir.printer import param_digest
    from ir.serialize import graph_to_json

    graph = ir.load(args.model)
    if not args.json:
        sys.stdout.write(ir.print_graph(graph))
    doc = graph_to_json(graph)
    doc["params"] = [{"name": p, "dtype": graph.params[p].dtype.name, "shape": list(graph.params[p].shape),
                      "sha256": param_digest(graph.params[p])} for p in sorted(graph.params)]
    return doc


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    from compiler.evaluate import quantized_accuracy, reference_accuracy
    from learning.datasets import load_dataset

    graph = ir.load(args.model)
    dataset = args.dataset or graph.meta.get("dataset")
    if not dataset:
        raise ConfigError(f"model file {args.model!r} records no data set: pass --dataset")
    data = load_dataset(dataset)
    result = reference_accuracy(graph, data)
    report = {"model": args.model, "dataset": dataset, "samples": result.samples,
              "reference_accuracy": result.accuracy, "trained_test_accuracy": graph.meta.get("test_accuracy")}
    quantized, why_not = None, None
    if graph.find("nn.dense"):  # a float model: also report it in fixed point, where the fpga target can
        try:
            quantized = quantized_accuracy(graph, data, args.weight_bits, args.act_bits)
            report.update(quantized_accuracy=quantized.accuracy, weight_bits=args.weight_bits,
                          act_bits=args.act_bits)
        except UnsupportedOpError as e:
            why_not = report["quantized_unavailable"] = str(e)
    if not args.json:
        print(f"{args.model}: reference (float64) accuracy on the {dataset} test split: "
              f"{result.accuracy:.4f} ({result.samples} samples)")
        if quantized is not None:
            print(f"{args.model}: fixed point ({args.weight_bits}-bit weights, {args.act_bits}-bit activations, "
                  f"integer reference): {quantized.accuracy:.4f}")
        elif why_not:
            print(f"{args.model}: no fixed-point figure: {why_not}")
    return report


def cmd_rules(args: argparse.Namespace) -> dict[str, Any]:
    from learning import RULES

    report = {name: {"summary": cls.summary, "supervised": cls.supervised, "defaults": dict(cls.defaults),
                     "options": dict(cls.options)} for name, cls in RULES.items()}
    if not args.json:
        for name, info in report.items():
            print(f"{name:8} {info['summary']}")
            settings = {**info["defaults"], **info["options"]}
            print(" " * 9 + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return report


def cmd_compile(args: argparse.Namespace) -> dict[str, Any]:
    import copy

    from backends import TARGETS
    from compiler.passes import PassManager
    from compiler.pipelines import spice_pipeline
    from learning.datasets import load_dataset

    if args.target not in TARGETS:
        raise ConfigError(f"unknown target {args.target!r}: must be one of {', '.join(TARGETS)}")
    graph = ir.load(args.model)
    source = copy.deepcopy(graph)
    dataset = args.dataset or graph.meta.get("dataset")
    if not dataset:
        raise ConfigError(f"model file {args.model!r} records no data set to calibrate on: pass --dataset")
    calibration = load_dataset(dataset).x_train
    if args.target == "fpga":
        return compile_fpga(args, graph, source, calibration)
    if args.learn:
        raise ConfigError("--learn builds a learning engine in digital hardware: use it with --target fpga")
    options = {k: getattr(args, k) for k in ("tile", "g_min", "g_max", "v_read", "r_wire", "r_source", "r_sense",
                                              "opamp_gain", "levels", "variation", "stuck_on", "stuck_off", "seed")}
    PassManager(spice_pipeline(calibration, **options)).run(graph)
    out = TARGETS[args.target](graph, args.output, source=source)
    from backends.spice.run import SpiceFolder
    from compiler.plots import conductance_maps

    folder = SpiceFolder.load(out)
    maps = {n: (graph.params[op.g_pos], graph.params[op.g_neg]) for n, op in graph.nodes() if op.kind ==
            "analog.crossbar"}
    conductance_maps(maps, out / "conductances.png")
    report = {"output": str(out), "target": args.target, "elements": folder.manifest["elements"],
              "tiles": folder.manifest["tiles"], "budget_volts": folder.manifest["budget_volts"]}
    if not args.json:
        print(f"compiled {args.model} for {args.target}: {report['elements']} elements in {out}/circuit.cir")
    return report


def _folder_kind(path: str) -> str:
    from pathlib import Path

    manifest = Path(path) / "manifest.json"
    try:
        kind = json.loads(manifest.read_text()).get("format") if manifest.is_file() else None
    except json.JSONDecodeError:
        kind = None
    return "fpga" if kind == "neurocc-fpga" else "spice"


def _spice_data(folder_path: str, dataset: str | None):  # noqa: ANN202
    from backends.spice.run import SpiceFolder

    folder = SpiceFolder.load(folder_path)
    return folder, folder_data(folder_path, folder.graph, dataset)


def cmd_simulate(args: argparse.Namespace) -> dict[str, Any]:
    if _folder_kind(args.folder) == "fpga":
        return simulate_fpga(args)
    if args.train:
        raise ConfigError(f"folder {args.folder!r} is a spice target: --train needs an fpga folder compiled with "
                          "--learn")
    from backends.spice.run import simulate

    folder, data = _spice_data(args.folder, args.dataset)
    x = data.x_test[: args.limit]
    sim = simulate(folder, x.astype("float64"), progress=not args.quiet and sys.stderr.isatty(), runner=args.runner)
    acc = float((sim["logits"].argmax(axis=1) == data.y_test[: len(x)]).mean())
    report = {"folder": args.folder, "dataset": data.name, "samples": len(x), "spice_accuracy": acc}
    if not args.json:
        print(f"ngspice on {len(x)} {data.name} test inputs: accuracy {acc:.4f}")
    return report


def cmd_verify(args: argparse.Namespace) -> dict[str, Any]:
    if _folder_kind(args.folder) == "fpga":
        return verify_fpga(args)
    if args.learn_steps is not None:
        raise ConfigError(f"folder {args.folder!r} is a spice target: --learn-steps needs an fpga folder compiled "
                          "with --learn")
    from pathlib import Path

    from compiler.plots import verify_scatter
    from compiler.verify import verify_spice

    folder, data = _spice_data(args.folder, args.dataset)
    float_logits = None
    if (Path(args.folder) / "source.ncm").is_file():
        source = ir.load(Path(args.folder) / "source.ncm")
        float_logits = ir.interp.run(source, data.x_test[: args.limit].astype("float64"))["logits"]
    result = verify_spice(folder, data, float_logits, args.limit, progress=not args.quiet and sys.stderr.isatty(),
                          runner=args.runner)
    plot = args.plot or str(Path(args.folder) / "verify.png")
    verify_scatter(result.ref_volts, result.sim_volts, f"ngspice vs reference ({result.report['samples']} inputs)",
                   plot)
    report = {**result.report, "plot": plot}
    if not args.json:
        r = report
        print(f"linear stage: max {r['linear_max_rel_error']:.2e}, mean {r['linear_mean_rel_error']:.2e} of full "
              f"scale (tolerance {r['linear_tolerance']:.0e})")
        print(f"outputs: max {r['output_max_error_volts']:.2e} V, mean {r['output_mean_error_volts']:.2e} V "
              f"(budget {r['output_tolerance_volts']:.2e} V)")
        if "float_accuracy" in r:
            print(f"decisions agree with the float network on {r['decision_agreement_with_float']:.2%}; accuracy "
                  f"{r['spice_accuracy']:.4f} in ngspice, {r['float_accuracy']:.4f} float")
        print("PASS" if r["passed"] else "FAIL")
    if not result.passed:
        raise VerifyFailed(report, "verification failed: outputs off by up to "
                                   f"{report['output_max_error_volts']:.3e} V (budget "
                                   f"{report['output_tolerance_volts']:.3e} V), linear stage "
                                   f"{report['linear_max_rel_error']:.3e} of full scale")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurocc", description="Compile locally trained neural networks to circuits.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an MLP with a learning rule and save it as a model file")
    p.add_argument("--rule", default="dfa", help="learning rule (see: neurocc rules); default dfa")
    p.add_argument("--dataset", default="digits", help="digits (default) or fashion-mnist")
    p.add_argument("--hidden", type=int, nargs="+", default=[64], help="hidden layer widths; default 64")
    p.add_argument("--activation", help="hidden activation; default: the rule's (relu for most)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, help="learning rate; default: the rule's (1e-3 for most)")
    p.add_argument("--optimizer", help="adam or sgd (momentum 0.9); default: the rule's (adam for most)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a rule option, repeatable")
    p.add_argument("-o", "--output", required=True, help="model file to write (.ncm)")
    p.add_argument("--plot", help="write training curves to this image file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("inspect", help="print a model file's IR")
    p.add_argument("model")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("eval", help="accuracy of a model file under the reference interpreter")
    p.add_argument("model")
    p.add_argument("--dataset", help="data set to evaluate on; default: the one the model was trained on")
    p.add_argument("--weight-bits", type=int, default=8, help="fixed-point weight width for the quantized figure")
    p.add_argument("--act-bits", type=int, default=8, help="fixed-point activation width for the quantized figure")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compile", help="compile a model file to a circuit folder")
    p.add_argument("model")
    p.add_argument("--target", default="spice", help="spice (default) or fpga")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--dataset", help="calibration data (training split); default: the model's")
    p.add_argument("--tile", type=int, default=64, help="crossbar tile size (rows and columns); default 64")
    p.add_argument("--g-min", type=float, default=1e-6, help="device conductance range, siemens (1e-6)")
    p.add_argument("--g-max", type=float, default=1e-4, help="(1e-4)")
    p.add_argument("--v-read", type=float, default=0.2, help="read voltage range, ± volts (0.2)")
    p.add_argument("--r-wire", type=float, default=0.0, help="wire resistance per cell segment, ohms (0)")
    p.add_argument("--r-source", type=float, default=0.0, help="row driver resistance, ohms (0)")
    p.add_argument("--r-sense", type=float, default=0.0, help="column sense resistance, ohms (0)")
    p.add_argument("--opamp-gain", type=float, default=1e6, help="op-amp open-loop gain (1e6)")
    p.add_argument("--levels", type=int, default=0, help="conductance levels (0: continuous)")
    p.add_argument("--variation", type=float, default=0.0, help="device-to-device variation, lognormal sigma (0)")
    p.add_argument("--stuck-on", type=float, default=0.0, help="fraction of devices stuck at G_max (0)")
    p.add_argument("--stuck-off", type=float, default=0.0, help="fraction of devices stuck at G_min (0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the device non-idealities (0)")
    p.add_argument("--pe", type=int, default=8, help="fpga: parallel MAC lanes per layer (8)")
    p.add_argument("--weight-bits", type=int, help="fpga: weight width (8; 16 with --learn)")
    p.add_argument("--act-bits", type=int, default=8, help="fpga: activation width (8)")
    p.add_argument("--learn", nargs="?", const="model", metavar="RULE",
                   help="fpga: add an on-chip learning engine: dfa, hebbian or oja (alone: the model's own rule)")
    p.add_argument("--lr-shift", type=int, default=7, help="fpga --learn: learning rate 2^-K (7)")
    p.set_defaults(func=cmd_compile)

    for name, helptext, func in (("simulate", "run a compiled folder over a test set (ngspice, Verilator or Amaranth)",
                                  cmd_simulate),
                                 ("verify", "compare a compiled folder's simulation with the reference (spice or fpga)",
                                  cmd_verify)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("folder")
        p.add_argument("--dataset", help="default: the model's")
        p.add_argument("--limit", type=int, help="only the first N test inputs (simulate --train: N of each split)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--runner", default="shared",
                       help="spice: shared (PySpice's libngspice interface, default) or subprocess (ngspice -b)")
        p.add_argument("--simulator", default="verilator",
                       help="fpga: verilator (default, on the emitted Verilog) or amaranth")
        p.add_argument("--plot", help="verify: scatter plot (default FOLDER/verify.png); simulate --train: learning "
                                      "curves (default FOLDER/learning.png)")
        if name == "simulate":
            p.add_argument("--train", action="store_true", help="fpga with --learn: train on chip, then test")
            p.add_argument("--epochs", type=int, default=5, help="simulate --train: passes over the training set (5)")
        else:
            p.add_argument("--learn-steps", type=int, metavar="K",
                           help="fpga with --learn: train K samples in hardware and in the reference trainer, "
                                "compare every weight")
        p.set_defaults(func=func)

    p = sub.add_parser("rules", help="list the learning rules with their defaults and options")
    p.set_defaults(func=cmd_rules)

    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        report = args.func(args)
    except VerifyFailed as e:
        if args.json:
            print(json.dumps(e.report, indent=1, sort_keys=True))
        print(f"error: {e}", file=sys.stderr)
        return 1
    except NeuroccError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
