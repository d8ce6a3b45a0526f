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
from pathlib import Path
from typing import Any

import ir
from compiler.cli_common import VerifyFailed, folder_data, write_plot
from compiler.cli_fpga import compile_fpga
from compiler.cli_fpga import simulate as simulate_fpga
from compiler.cli_fpga import verify as verify_fpga
from compiler.options import MAX_WIDTH, SEED_MAX, Parser, choice, integer, number, output_file
from ir.errors import ConfigError, NeuroccError, UnsupportedOpError

ANALOG_OPTIONS: tuple[tuple[str, Any, Any, str], ...] = (
    # (LowerAnalog field, parser, default, help); the flag is the field with dashes
    ("tile", integer(2, 1024), 64, "crossbar tile size (rows and columns); default 64"),
    ("g_min", number(positive=True), 1e-6, "device conductance range, siemens (1e-6)"),
    ("g_max", number(positive=True), 1e-4, "(1e-4)"),
    ("v_read", number(positive=True), 0.2, "read voltage range, ± volts (0.2)"),
    ("r_wire", number(0.0), 0.0, "wire resistance per cell segment, ohms (0)"),
    ("r_source", number(0.0), 0.0, "row driver resistance, ohms (0)"),
    ("r_sense", number(0.0), 0.0, "column sense resistance, ohms (0)"),
    ("opamp_gain", number(positive=True), 1e6, "op-amp open-loop gain (1e6)"),
    ("levels", integer(2, 1 << 16, also=(0,), what="0 (continuous) or an integer in [2, 65536]"), 0,
     "conductance levels (0: continuous)"),
    ("variation", number(0.0, 2.0), 0.0, "device-to-device variation, lognormal sigma in [0, 2] (0)"),
    ("stuck_on", number(0.0, 1.0), 0.0, "fraction of devices stuck at G_max (0)"),
    ("stuck_off", number(0.0, 1.0), 0.0, "fraction of devices stuck at G_min (0)"),
    ("seed", integer(0, SEED_MAX), 0, "seed of the device non-idealities (0)"),
)
"""The analog compile options: one row each, from which the flags are made and the pass is configured."""


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


def _check_analog(args: argparse.Namespace) -> None:
    """The analog options that are wrong together (each alone was checked as it was parsed)."""
    if args.g_min >= args.g_max:
        raise ConfigError(f"--g-min {args.g_min!r} must be below --g-max {args.g_max!r}")
    if args.stuck_on + args.stuck_off > 1:
        raise ConfigError(f"--stuck-on {args.stuck_on!r} and --stuck-off {args.stuck_off!r} add up to "
                          f"{args.stuck_on + args.stuck_off:g}: together they must be at most 1")


def cmd_compile(args: argparse.Namespace) -> dict[str, Any]:
    import copy

    from backends import TARGETS
    from backends.folder import check_output_folder
    from compiler.passes import PassManager
    from compiler.pipelines import spice_pipeline
    from learning.datasets import load_dataset

    if args.target == "spice":
        _check_analog(args)
        if args.learn:
            raise ConfigError("--learn builds a learning engine in digital hardware: use it with --target fpga")
    check_output_folder(args.output, args.target, [args.model])
    graph = ir.load(args.model)
    source = copy.deepcopy(graph)
    dataset = args.dataset or graph.meta.get("dataset")
    if not dataset:
        raise ConfigError(f"model file {args.model!r} records no data set to calibrate on: pass --dataset")
    calibration = load_dataset(dataset).x_train
    if args.target == "fpga":
        return compile_fpga(args, graph, source, calibration)
    options = {name: getattr(args, name) for name, *_ in ANALOG_OPTIONS}
    PassManager(spice_pipeline(calibration, **options)).run(graph)

    def plots(folder: Path) -> None:
        from compiler.plots import conductance_maps

        maps = {n: (graph.params[op.g_pos], graph.params[op.g_neg]) for n, op in graph.nodes()
                if op.kind == "analog.crossbar"}
        conductance_maps(maps, folder / "conductances.png")

    out = TARGETS[args.target](graph, args.output, source=source, inputs=[args.model], finish=plots)
    manifest = json.loads((out / "manifest.json").read_text())
    report = {"output": str(out), "target": args.target, "elements": manifest["elements"],
              "tiles": manifest["tiles"], "budget_volts": manifest["budget_volts"]}
    if not args.json:
        print(f"compiled {args.model} for {args.target}: {report['elements']} elements in {out}/circuit.cir")
    return report


def _folder_kind(path: str) -> str:
    from backends.folder import folder_target

    return folder_target(path)


def _spice_data(args: argparse.Namespace):  # noqa: ANN202
    from backends.spice.run import SpiceFolder

    folder = SpiceFolder.load(args.folder, trust_edits=args.trust_edits)
    if folder.edited:
        logging.getLogger("neurocc").warning("circuit.cir of %r was edited by hand; simulating the edited netlist",
                                             args.folder)
    return folder, folder_data(args.folder, folder.graph, args.dataset)


def cmd_simulate(args: argparse.Namespace) -> dict[str, Any]:
    if _folder_kind(args.folder) == "fpga":
        return simulate_fpga(args)
    if args.train:
        raise ConfigError(f"folder {args.folder!r} is a spice target: --train needs an fpga folder compiled with "
                          "--learn")
    from backends.spice.run import simulate

    folder, data = _spice_data(args)
    x = data.x_test[: args.limit]
    sim = simulate(folder, x.astype("float64"), progress=not args.quiet and sys.stderr.isatty(), runner=args.runner)
    acc = float((sim["logits"].argmax(axis=1) == data.y_test[: len(x)]).mean())
    report = {"folder": args.folder, "dataset": data.name, "samples": len(x), "spice_accuracy": acc}
    if not args.json:
        print(f"ngspice on {len(x)} {data.name} test inputs: accuracy {acc:.4f}")
    return report


def _float_logits(path: Path, x: Any) -> Any:
    """The float model's (``source.ncm``'s) outputs on ``x``; it must take and give what the circuit does."""
    from compiler.evaluate import single_output

    return single_output(ir.load(path), x.astype("float64"))


def cmd_verify(args: argparse.Namespace) -> dict[str, Any]:
    if _folder_kind(args.folder) == "fpga":
        return verify_fpga(args)
    if args.learn_steps is not None:
        raise ConfigError(f"folder {args.folder!r} is a spice target: --learn-steps needs an fpga folder compiled "
                          "with --learn")
    from compiler.plots import verify_scatter
    from compiler.verify import verify_spice

    folder, data = _spice_data(args)
    float_logits = None
    if "source.ncm" in folder.manifest["files"]:
        float_logits = _float_logits(folder.path / "source.ncm", data.x_test[: args.limit])
    result = verify_spice(folder, data, float_logits, args.limit, progress=not args.quiet and sys.stderr.isatty(),
                          runner=args.runner)
    plot = write_plot(args.plot, Path(args.folder) / "verify.png", verify_scatter, result.ref_volts,
                      result.sim_volts, f"ngspice vs reference ({result.report['samples']} inputs)")
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
    parser = Parser(prog="neurocc", description="Compile locally trained neural networks to circuits.")
    sub = parser.add_subparsers(dest="command", required=True)
    seed = integer(0, SEED_MAX)
    bits = integer(2, 32)

    p = sub.add_parser("train", help="train an MLP with a learning rule and save it as a model file")
    p.add_argument("--rule", default="dfa", help="learning rule (see: neurocc rules); default dfa")
    p.add_argument("--dataset", default="digits", help="digits (default) or fashion-mnist")
    p.add_argument("--hidden", type=integer(1, MAX_WIDTH), nargs="+", default=[64],
                   help=f"hidden layer widths (at most {MAX_WIDTH}); default 64")
    p.add_argument("--activation", help="hidden activation; default: the rule's (relu for most)")
    p.add_argument("--epochs", type=integer(0, 100_000), default=40, help="passes over the training set (0: the "
                                                                         "initial weights); default 40")
    p.add_argument("--batch-size", type=integer(1, 1 << 20), default=32)
    p.add_argument("--lr", type=number(positive=True), help="learning rate; default: the rule's (1e-3 for most)")
    p.add_argument("--optimizer", help="adam or sgd (momentum 0.9); default: the rule's (adam for most)")
    p.add_argument("--seed", type=seed, default=0, help=f"in [0, {SEED_MAX}]; default 0")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a rule option, repeatable")
    p.add_argument("-o", "--output", required=True, type=output_file("model"), help="model file to write (.ncm)")
    p.add_argument("--plot", type=output_file("png"), help="write training curves to this image file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("inspect", help="print a model file's IR")
    p.add_argument("model")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("eval", help="accuracy of a model file under the reference interpreter")
    p.add_argument("model")
    p.add_argument("--dataset", help="data set to evaluate on; default: the one the model was trained on")
    p.add_argument("--weight-bits", type=bits, default=8, help="fixed-point weight width for the quantized figure")
    p.add_argument("--act-bits", type=bits, default=8, help="fixed-point activation width for the quantized figure")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compile", help="compile a model file to a circuit folder")
    p.add_argument("model")
    p.add_argument("--target", default="spice", type=choice("spice", "fpga"), help="spice (default) or fpga")
    p.add_argument("-o", "--output", required=True, help="output folder: new, empty, or a neurocc folder of the "
                                                         "same target to replace")
    p.add_argument("--dataset", help="calibration data (training split); default: the model's")
    for name, parse, default, helptext in ANALOG_OPTIONS:
        p.add_argument("--" + name.replace("_", "-"), type=parse, default=default, help=helptext)
    p.add_argument("--pe", type=integer(1, 1024), default=8, help="fpga: parallel MAC lanes per layer (8)")
    p.add_argument("--weight-bits", type=bits, help="fpga: weight width (8; 16 with --learn)")
    p.add_argument("--act-bits", type=bits, default=8, help="fpga: activation width (8)")
    p.add_argument("--learn", nargs="?", const="model", metavar="RULE",
                   help="fpga: add an on-chip learning engine: dfa, hebbian or oja (alone: the model's own rule)")
    p.add_argument("--lr-shift", type=integer(0, 30), default=7, help="fpga --learn: learning rate 2^-K (7)")
    p.set_defaults(func=cmd_compile)

    for name, helptext, func in (("simulate", "run a compiled folder over a test set (ngspice, Verilator or Amaranth)",
                                  cmd_simulate),
                                 ("verify", "compare a compiled folder's simulation with the reference (spice or fpga)",
                                  cmd_verify)):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("folder")
        p.add_argument("--dataset", help="default: the model's")
        p.add_argument("--limit", type=integer(1), help="only the first N test inputs (simulate --train: N of each "
                                                        "split)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument("--runner", default="shared", type=choice("shared", "subprocess"),
                       help="spice: shared (PySpice's libngspice interface, default) or subprocess (ngspice -b)")
        p.add_argument("--simulator", default="verilator", type=choice("verilator", "amaranth"),
                       help="fpga: verilator (default, on the emitted Verilog) or amaranth")
        p.add_argument("--plot", type=output_file("png"),
                       help="verify: scatter plot (default FOLDER/verify.png); simulate --train: learning curves "
                            "(default FOLDER/learning.png)")
        p.add_argument("--trust-edits", action="store_true",
                       help="spice: simulate a circuit.cir edited by hand since compile (still only neurocc's cards)")
        if name == "simulate":
            p.add_argument("--train", action="store_true", help="fpga with --learn: train on chip, then test")
            p.add_argument("--epochs", type=integer(1, 10_000), default=5,
                           help="simulate --train: passes over the training set (5)")
        else:
            p.add_argument("--learn-steps", type=integer(1, 10_000_000), metavar="K",
                           help="fpga with --learn: train K samples in hardware and in the reference trainer, "
                                "compare every weight")
        p.set_defaults(func=func)

    p = sub.add_parser("rules", help="list the learning rules with their defaults and options")
    p.set_defaults(func=cmd_rules)

    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    return parser


def run(argv: Sequence[str]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Parse ``argv`` and run the command; returns the arguments and the report. Errors propagate (a
    :class:`NeuroccError` for anything a user can cause): the in-process way in, for tests and fuzzing."""
    args = build_parser().parse_args(list(argv))
    return args, args.func(args)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = None
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
        report = args.func(args)
    except VerifyFailed as e:
        if args is not None and args.json:
            print(json.dumps(e.report, indent=1, sort_keys=True))
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except NeuroccError as e:
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=1, sort_keys=True))
    return 0


def one_line(message: str) -> str:
    """A message as one line (a message is written as one; this keeps a stray line break off the terminal)."""
    return " ".join(message.split("\n"))


if __name__ == "__main__":
    sys.exit(main())
