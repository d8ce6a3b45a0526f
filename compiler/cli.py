"""The ``neurocc`` command line: train, inspect, eval, compile, simulate, verify, sweep, build, run, rules.

Every command takes ``--json`` for machine-readable output on stdout. A :class:`NeuroccError` prints
``error: <message>`` on stderr and exits 1; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import ir
from compiler.options import (
    MAX_WIDTH,
    SEED_MAX,
    Flag,
    Options,
    Parser,
    choice,
    flag,
    integer,
    number,
    output_file,
)
from compiler.targets import TARGETS, Target, get_target
from errors import ConfigError, NeuroccError, UnsupportedOpError


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


class VerifyFailed(NeuroccError):
    """A verification ran and found differences; the report still goes out with ``--json``."""

    def __init__(self, report: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.report = report


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from compiler.frontend import from_trained
    from learning.trainer import TrainConfig, train

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
    from learning.rules import RULES

    report: dict[str, dict[str, Any]] = {
        name: {"summary": cls.summary, "supervised": cls.supervised, "defaults": dict(cls.defaults),
               "options": dict(cls.options)} for name, cls in RULES.items()}
    if not args.json:
        for name, info in report.items():
            print(f"{name:8} {info['summary']}")
            settings = {**info["defaults"], **info["options"]}
            print(" " * 9 + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return report


def _target_options(args: argparse.Namespace, command: str, target: Target) -> dict[str, Any]:
    """The options of ``target`` that the command line gave (the flags of every target are on ``command``; one
    that belongs to another target only is an error naming it)."""
    mine = {name for name, *_ in _options_of(target, command).specs()}
    given = {}
    for t in TARGETS.values():
        for name, *_ in _options_of(t, command).specs():
            value = getattr(args, name, None)
            if value is None:
                continue
            if name not in mine:
                raise ConfigError(f"{flag(name)} is an option of the {t.name} target, not of {target.name}")
            given[name] = value
    return given


def _options_of(target: Target, command: str) -> type[Options]:
    if command in ("build", "run"):
        return getattr(target, f"{command}_options", Options)
    return {"compile": target.options, "simulate": target.simulate_options, "verify": target.verify_options}[command]


def _print(target: Target, command: str, report: dict[str, Any], args: argparse.Namespace) -> None:
    if not args.json:
        for line in target.describe(command, report):
            print(line)


def cmd_compile(args: argparse.Namespace) -> dict[str, Any]:
    from compiler.api import compile

    target = get_target(args.target)
    folder = compile(args.model, args.target, args.output, dataset=args.dataset,
                     **_target_options(args, "compile", target))
    for message in folder.warnings:
        print(f"warning: {message}", file=sys.stderr)
    report = {"model": args.model, **folder.summary()}
    _print(target, "compile", report, args)
    return report


def _open(args: argparse.Namespace, command: str) -> tuple[Any, dict[str, Any]]:
    from compiler.api import open_folder

    folder = open_folder(args.folder, trust_edits=args.trust_edits)
    return folder, _target_options(args, command, folder.target)


def cmd_simulate(args: argparse.Namespace) -> dict[str, Any]:
    folder, options = _open(args, "simulate")
    report = folder.simulate(args.dataset, args.limit, _progress(args), args.plot, **options)
    _print(folder.target, "simulate", report, args)
    return report


def cmd_verify(args: argparse.Namespace) -> dict[str, Any]:
    folder, options = _open(args, "verify")
    report = folder.verify(args.dataset, args.limit, _progress(args), args.plot, **options)
    _print(folder.target, "verify", report, args)
    if not report["passed"]:
        raise VerifyFailed(report, folder.target.failure(report))
    return report


def cmd_build(args: argparse.Namespace) -> dict[str, Any]:
    folder, options = _open(args, "build")
    if _progress(args):
        print(f"building {args.folder}: synthesis, place and route, packing (minutes) ...", file=sys.stderr)
    report = folder.build(progress=_progress(args), **options)
    _print(folder.target, "build", report, args)
    return report


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    folder, options = _open(args, "run")
    report = folder.run(args.dataset, args.limit, _progress(args), **options)
    _print(folder.target, "run", report, args)
    if not report["passed"]:
        raise VerifyFailed(report, "the board's answers differ from the reference: " + (
            f"{report['mismatched_weights']} weights, {report['mismatched_output_words']} prediction words"
            if "weights" in report else f"{report['mismatched_words']} of {report['output_words']} output words"))
    return report


def cmd_sweep(args: argparse.Namespace) -> dict[str, Any]:
    from compiler.sweep import parse_params, sweep

    report = sweep(args.model, parse_params(args.param), args.seeds, args.output, dataset=args.dataset,
                   limit=args.limit, scheduler=args.scheduler, workers=args.workers, progress=_progress(args))
    if not args.json:
        print(f"sweep of {report['tasks']} tasks ({report['computed']} computed, {report['cached']} from earlier "
              f"runs): {report['output']}/table.json, table.csv and {len(report['plots'])} plot(s)")
        names = [k for k in report["rows"][0] if k not in ("accuracy_mean", "accuracy_std", "seeds")]
        for row in report["rows"]:
            shown = ", ".join(f"{n}={row[n]}" for n in names)
            print(f"  {shown}: accuracy {row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} "
                  f"({row['seeds']} seeds)")
    return report


def _scheduler(text: str) -> str:
    if text in ("local", "serial") or text.startswith("tcp://"):
        return text
    raise argparse.ArgumentTypeError(f"must be local, serial or tcp://HOST:PORT, not {text[:80]!r}")


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _add_target_flags(p: argparse.ArgumentParser, command: str) -> None:
    """Every target's options of ``command`` as flags (a name two targets share is one flag; it must take the
    same values in both)."""
    seen: dict[str, Any] = {}
    for target in TARGETS.values():
        group = p.add_argument_group(f"{target.name} folders" if command != "compile" else f"--target {target.name}")
        for name, kind, _default, helptext, const in _options_of(target, command).specs():
            if name in seen:
                if type(seen[name]) is not type(kind) or seen[name].must != kind.must:
                    raise TypeError(f"targets disagree on what {flag(name)} takes")
                continue
            seen[name] = kind
            if isinstance(kind, Flag):
                group.add_argument(flag(name), action="store_const", const=True, default=None, help=helptext)
            elif const is not None:
                group.add_argument(flag(name), nargs="?", const=const, type=kind, default=None, help=helptext)
            else:
                group.add_argument(flag(name), type=kind, default=None, help=helptext)


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
    p.add_argument("--target", default="spice", type=choice(*TARGETS), help=f"{', '.join(TARGETS)} (default spice)")
    p.add_argument("-o", "--output", required=True, help="output folder: new, empty, or a neurocc folder of the "
                                                         "same target to replace")
    p.add_argument("--dataset", help="calibration data (training split); default: the model's")
    _add_target_flags(p, "compile")
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
        p.add_argument("--plot", type=output_file("png"),
                       help="verify: scatter plot (default FOLDER/verify.png); simulate --train: learning curves "
                            "(default FOLDER/learning.png)")
        p.add_argument("--trust-edits", action="store_true",
                       help="spice: simulate a circuit.cir edited by hand since compile (still only neurocc's cards)")
        _add_target_flags(p, name)
        p.set_defaults(func=func)

    p = sub.add_parser("build", help="build a compiled fpga folder into a board's bitstream (yosys, nextpnr), "
                                     "with a UART host link; everything goes to FOLDER/build/")
    p.add_argument("folder")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_build, trust_edits=False)
    _add_target_flags(p, "build")

    p = sub.add_parser("run", help="run a compiled fpga folder's design on a board through its UART host link "
                                   "(or --port verilator: its Verilator model) and check it against the reference")
    p.add_argument("folder")
    p.add_argument("--dataset", help="default: the model's")
    p.add_argument("--limit", type=integer(1), help="only the first N test inputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run, trust_edits=False)
    _add_target_flags(p, "run")

    p = sub.add_parser("sweep", help="accuracy of a model's analog circuit over a grid of circuit options and seeds "
                                     "(the fast simulator, every task on Dask; a folder resumes where it stopped)")
    p.add_argument("model")
    p.add_argument("--param", action="append", required=True, metavar="NAME=V1,V2,...",
                   help="a circuit option (a spice compile flag: r_wire, tile, variation, stuck_off, ...) and its "
                        "values; repeat for a grid")
    p.add_argument("--seeds", type=integer(1, 10_000), default=3, help="seeds of the device non-idealities per "
                                                                       "grid point (3)")
    p.add_argument("-o", "--output", required=True, help="results folder: new, empty, or an earlier sweep's")
    p.add_argument("--dataset", help="default: the model's")
    p.add_argument("--limit", type=integer(1), help="only the first N test inputs")
    p.add_argument("--scheduler", type=_scheduler, default="local",
                   help="local (a Dask LocalCluster here, default), serial (this process) or tcp://HOST:8786")
    p.add_argument("--workers", type=integer(1, 1024), default=2, help="LocalCluster worker processes (2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

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
        if args.json:
            print(json.dumps(report, indent=1, sort_keys=True))
            sys.stdout.flush()
    except VerifyFailed as e:
        if args is not None and args.json:
            print(json.dumps(e.report, indent=1, sort_keys=True))
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except NeuroccError as e:
        print(f"error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of stdout left (``| head``): stop quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 1
    return 0


def one_line(message: str) -> str:
    """A message as one line (a message is written as one; this keeps a stray line break off the terminal)."""
    return " ".join(message.split("\n"))


if __name__ == "__main__":
    sys.exit(main())
