"""The ``Target`` protocol: everything the compiler, the library API and the CLI need from a target, in one place.

A target is one object in :data:`compiler.targets.TARGETS`. It has a name, the layout of its folders, and three
typed option dataclasses (:class:`compiler.options.Options`) whose fields are the command-line flags: for
``compile``, ``simulate`` and ``verify``. It says which passes lower a graph for it (:meth:`Target.pipeline`), how
the lowered graph is written out (:meth:`Target.emit`, through its backend) and read back checked
(:meth:`Target.load`), how a loaded folder is simulated and verified on a data set, and how each report reads as
text. The CLI and :func:`compiler.api.compile` only loop over the table; adding a target is one module and one
row of the table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from backends.folder import Layout
from compiler.options import Choice, Options, option
from compiler.passes import Pass
from errors import ConfigError
from ir import Graph
from learning.datasets import Dataset

SIMULATORS: dict[str, tuple[str, ...]] = {"spice": ("fast", "ngspice"), "fpga": ("verilator", "amaranth")}
"""Each target's simulators, its default first. ``--simulator`` is one flag for every target's folders."""


def simulator_option() -> Any:
    """The ``simulator`` field of a target's simulate or verify options (one flag, every target's names)."""
    names = [name for own in SIMULATORS.values() for name in own]
    text = "; ".join(f"{t}: {' or '.join(own)} (default {own[0]})" for t, own in SIMULATORS.items())
    return option(None, Choice(*names), text)


def check_simulator(target: str, simulator: str | None) -> str:
    """``simulator`` (or the target's default when ``None``), if it is one of ``target``'s."""
    own = SIMULATORS[target]
    if simulator is None:
        return own[0]
    if simulator not in own:
        raise ConfigError(f"--simulator {simulator} does not simulate {target} folders: they take "
                          f"{' or '.join(own)}")
    return simulator


class Target(Protocol):
    name: ClassVar[str]
    layout: ClassVar[Layout]
    options: ClassVar[type[Options]]
    simulate_options: ClassVar[type[Options]]
    verify_options: ClassVar[type[Options]]

    def pipeline(self, graph: Graph, options: Any, calibration: Callable[[], np.ndarray]) -> list[Pass]:
        """The passes that lower ``graph`` (as loaded) for this target; ``calibration()`` gives the training
        inputs, read only if a pass needs them (an already lowered model needs none)."""

    def emit(self, graph: Graph, output: str | os.PathLike[str], options: Any, source: Graph | None,
             inputs: Iterable[str | os.PathLike[str]]) -> Path:
        """Write the lowered graph's folder (``source``: the model as given; ``inputs``: files the compile
        read, which the folder may not hold)."""

    def load(self, path: str | os.PathLike[str], trust_edits: bool = False) -> Any:
        """The folder at ``path``, checked (the backend's folder object)."""

    def summary(self, loaded: Any) -> dict[str, Any]:
        """What a compile produced, for its report (from the folder's manifest)."""

    def simulate(self, loaded: Any, data: Dataset, limit: int | None, options: Any, progress: bool,
                 plot: str | None) -> dict[str, Any]:
        """Run the folder's circuit over ``data``'s test split (or what ``options`` asks); a JSON report."""

    def verify(self, loaded: Any, data: Dataset, limit: int | None, options: Any, progress: bool,
               plot: str | None) -> dict[str, Any]:
        """Compare the circuit with the reference; a JSON report whose ``passed`` says whether it holds."""

    def describe(self, command: str, report: dict[str, Any]) -> list[str]:
        """The report of ``command`` (``compile``, ``simulate`` or ``verify``) as lines of text."""

    def failure(self, report: dict[str, Any]) -> str:
        """The one-line error of a verification that did not hold."""


class BoardTarget(Target, Protocol):
    """A target whose folders also build for a board (``neurocc build``) and run on one through a host link
    (``neurocc run``)."""
    build_options: ClassVar[type[Options]]
    run_options: ClassVar[type[Options]]

    def build(self, loaded: Any, options: Any, progress: bool) -> dict[str, Any]:
        """Build the folder for the board ``options`` name; the report (``passed``-less: a failure raises)."""

    def run(self, loaded: Any, data: Dataset, limit: int | None, options: Any, progress: bool) -> dict[str, Any]:
        """Run the folder's design on a board (or its model) over the host link; the report's ``passed`` says
        whether it matched the reference."""


def board_target(target: Target) -> BoardTarget | None:
    """``target`` if its folders build for boards, else ``None``."""
    return target if hasattr(target, "build_options") else None  # type: ignore[return-value]

