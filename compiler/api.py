"""The library API: compile a model for a target, open a compiled folder, simulate and verify it.

    from compiler.api import compile, open_folder

    folder = compile("digits-dfa.ncm", "spice", "out/sp", r_wire=1.0)     # any option of the target
    folder.verify(limit=30)["passed"]
    hw = compile("digits-dfa.ncm", "fpga", "out/hw", pe=8)
    open_folder("out/hw").simulate(simulator="amaranth", limit=10)

The CLI, the benchmarks, the examples and the tests all compile this way. A model is a file or an ``ir.Graph``;
options are the target's :class:`~compiler.options.Options` fields (``compile --help`` lists them as flags) and
are checked before any work, as ``-o`` is (:func:`backends.folder.check_output_folder`). Every number of the
circuit comes from the model and these options, so compiling the ``model.ncm`` a folder holds again, with no
options, gives the same folder.
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import ir
from backends.folder import check_output_folder, folder_target
from compiler.passes import PassManager
from compiler.targets import TARGETS, Target, get_target
from compiler.targets.base import board_target
from errors import CompileWarning, ConfigError
from ir import Graph
from learning.datasets import Dataset, load_dataset

Model = str | os.PathLike[str] | Graph


@dataclass
class Folder:
    """A compiled folder, checked as its target reads it; simulate and verify it on a data set."""

    target: Target
    loaded: Any
    warnings: list[str] = field(default_factory=list)
    """What the compile warned about (a learning rate that rounds every update to zero, say)."""

    @property
    def path(self) -> Path:
        return Path(self.loaded.path)

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(self.loaded.manifest)

    @property
    def graph(self) -> Graph:
        return self.loaded.graph

    def summary(self) -> dict[str, Any]:
        """What the compile produced (from the manifest), as the target reports it."""
        return {"output": str(self.path), "target": self.target.name, **self.target.summary(self.loaded),
                "warnings": list(self.warnings)}

    def data(self, dataset: str | Dataset | None = None) -> Dataset:
        """The data set to run on: ``dataset`` (a name or a :class:`Dataset`), else the model's own."""
        if isinstance(dataset, Dataset):
            return dataset
        name = dataset or self.graph.meta.get("dataset")
        if not name:
            raise ConfigError(f"folder {str(self.path)!r} records no data set: pass --dataset")
        return load_dataset(name)

    def simulate(self, dataset: str | Dataset | None = None, limit: int | None = None, progress: bool = False,
                 plot: str | None = None, **options: Any) -> dict[str, Any]:
        """Run the circuit over the test split (``options``: the target's simulate options); a JSON report."""
        opts = self.target.simulate_options.build(options, f"simulate of a {self.target.name} folder")
        report = self.target.simulate(self.loaded, self.data(dataset), limit, opts, progress, plot)
        return {"folder": str(self.path), **report}

    def verify(self, dataset: str | Dataset | None = None, limit: int | None = None, progress: bool = False,
               plot: str | None = None, **options: Any) -> dict[str, Any]:
        """Compare the circuit with the reference; the report's ``passed`` says whether it holds."""
        opts = self.target.verify_options.build(options, f"verify of a {self.target.name} folder")
        report = self.target.verify(self.loaded, self.data(dataset), limit, opts, progress, plot)
        return {"folder": str(self.path), **report}


    def build(self, board: str | None = None, progress: bool = False, **options: Any) -> dict[str, Any]:
        """Build the folder for a board (``options``: the target's build options, such as ``baud``); the report.
        Everything lands in ``<folder>/build/``."""
        target = board_target(self.target)
        if target is None:
            raise ConfigError(f"folder {str(self.path)!r} is a {self.target.name} folder: only fpga folders build "
                              "for a board")
        if board is not None:
            options["board"] = board
        opts = target.build_options.build(options, f"build of a {self.target.name} folder")
        return {"folder": str(self.path), **target.build(self.loaded, opts, progress)}


    def run(self, dataset: str | Dataset | None = None, limit: int | None = None, progress: bool = False,
            **options: Any) -> dict[str, Any]:
        """Run the design over the host link (``port``: a serial port, or ``verilator`` for its model); the report's
        ``passed`` says whether every answer matched the reference."""
        target = board_target(self.target)
        if target is None:
            raise ConfigError(f"folder {str(self.path)!r} is a {self.target.name} folder: only fpga folders run on a "
                              "board")
        opts = target.run_options.build(options, f"run of a {self.target.name} folder")
        return {"folder": str(self.path), **target.run(self.loaded, self.data(dataset), limit, opts, progress)}


def open_folder(path: str | os.PathLike[str], trust_edits: bool = False) -> Folder:
    """The compiled folder at ``path``, as the target its manifest names reads it."""
    name = folder_target(path)
    if name not in TARGETS:
        raise ConfigError(f"folder {str(path)!r} was compiled for target {name!r}, which this neurocc does not "
                          f"have (it has {', '.join(TARGETS)})")
    target = TARGETS[name]
    return Folder(target, target.load(path, trust_edits))


def compile(model: Model, target: str, output: str | os.PathLike[str], *, dataset: str | None = None,  # noqa: A001
            **options: Any) -> Folder:
    """Compile ``model`` for ``target`` into the folder ``output`` and return it, opened. ``dataset`` names the
    calibration data (its training split; default: the model's own), read only if a pass needs it."""
    t = get_target(target)
    opts = t.options.build(options, f"target {target!r}")
    inputs = [] if isinstance(model, Graph) else [model]
    check_output_folder(output, t.layout, inputs)
    graph = copy.deepcopy(model) if isinstance(model, Graph) else ir.load(model)
    source = copy.deepcopy(graph)
    where = f"model {graph.name!r}" if isinstance(model, Graph) else f"model file {str(model)!r}"

    def calibration() -> np.ndarray:
        name = dataset or graph.meta.get("dataset")
        if not name:
            raise ConfigError(f"{where} records no data set to calibrate on: pass --dataset")
        return load_dataset(name).x_train

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", CompileWarning)
        PassManager(t.pipeline(graph, opts, calibration)).run(graph)
    out = t.emit(graph, output, opts, source, inputs)
    folder = open_folder(out)
    folder.warnings = [str(w.message) for w in seen if issubclass(w.category, CompileWarning)]
    for w in seen:  # anything else goes on as it came
        if not issubclass(w.category, CompileWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return folder
