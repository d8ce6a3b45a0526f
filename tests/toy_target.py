"""A third target, for tests: its "circuit" is the IR print of the model, its simulator the reference interpreter.

It exists to show what adding a target costs: this module and one row of ``compiler.targets.TARGETS`` (the test
adds the row). Nothing else in neurocc names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import ir
from backends.folder import Layout, check_derived, read_folder, write_folder
from compiler.evaluate import single_output
from compiler.options import Choice, Options, option
from compiler.passes import Pass
from ir import Graph
from learning.datasets import Dataset

VERSION = 1


@dataclass(frozen=True)
class PrintOptions(Options):
    style: str = option("plain", Choice("plain", "boxed"), "ir-print: how the print is framed (plain)")


@dataclass(frozen=True)
class NoOptions(Options):
    pass


@dataclass(frozen=True)
class Printed:
    path: Path
    manifest: dict[str, Any]
    graph: Graph
    text: str


def _manifest(graph: Graph, style: str) -> dict[str, Any]:
    return {"format": "neurocc-ir-print", "version": VERSION, "model": graph.name, "style": style}


def _circuit(graph: Graph, style: str) -> str:
    text = ir.print_graph(graph)
    return f"+{'-' * 8}+\n{text}+{'-' * 8}+\n" if style == "boxed" else text


class PrintTarget:
    name: ClassVar[str] = "ir-print"
    layout: ClassVar[Layout] = Layout("ir-print", (r"graph\.txt", r"model\.ncm", r"source\.ncm"))
    options: ClassVar[type[Options]] = PrintOptions
    simulate_options: ClassVar[type[Options]] = NoOptions
    verify_options: ClassVar[type[Options]] = NoOptions

    def pipeline(self, graph: Graph, options: Any, calibration: Callable[[], np.ndarray]) -> list[Pass]:
        graph.meta["style"] = options.style  # the one decision this target makes, kept in the model
        return []

    def emit(self, graph: Graph, output: str | Path, options: Any, source: Graph | None,
             inputs: Iterable[str | Path]) -> Path:
        style = str(graph.meta["style"])
        return write_folder(output, self.layout, {"graph.txt": _circuit(graph, style)}, _manifest(graph, style),
                            graph, source, inputs)

    def load(self, path: str | Path, trust_edits: bool = False) -> Printed:
        folder, manifest, graph, _ = read_folder(path, self.layout, VERSION, ("graph.txt",))
        check_derived(folder, manifest, _manifest(graph, str(graph.meta.get("style"))))
        return Printed(folder, manifest, graph, (folder / "graph.txt").read_text())

    def summary(self, loaded: Printed) -> dict[str, Any]:
        return {"lines": loaded.text.count("\n")}

    def simulate(self, loaded: Printed, data: Dataset, limit: int | None, options: Any, progress: bool,
                 plot: str | None) -> dict[str, Any]:
        logits = single_output(loaded.graph, data.x_test[:limit])
        return {"samples": len(logits), "accuracy": float((logits.argmax(1) == data.y_test[:limit]).mean())}

    def verify(self, loaded: Printed, data: Dataset, limit: int | None, options: Any, progress: bool,
               plot: str | None) -> dict[str, Any]:
        return {"passed": loaded.text == _circuit(loaded.graph, loaded.manifest["style"])}

    def describe(self, command: str, report: dict[str, Any]) -> list[str]:
        return [f"{command}: {report}"]

    def failure(self, report: dict[str, Any]) -> str:
        return "the print does not match the model"
