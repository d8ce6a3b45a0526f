"""``Pass``: a frozen dataclass with a ``name`` and options as fields; ``PassManager`` runs a list of them.

The manager verifies the graph after every pass, so a pass that leaves the graph invalid is caught at once and
named in the error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from errors import LoweringError, VerifyError
from ir import Graph
from ir.dialects import digital


def dense_layers(graph: Graph, purpose: str) -> list[str]:
    """The graph's ``digital.dense`` nodes in order; a graph without any is an error naming what a pass wanted them
    ``purpose`` for (quantize makes them)."""
    dense = [n for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
    if not dense:
        raise LoweringError(f"graph {graph.name!r} has no digital.dense layer {purpose}: run quantize first")
    return dense


@dataclass(frozen=True)
class Pass(ABC):
    name: ClassVar[str]

    @abstractmethod
    def run(self, graph: Graph) -> None:
        """Rewrite ``graph`` in place through its methods; leave it valid."""


def pass_table(*passes: type[Pass]) -> dict[str, type[Pass]]:
    table: dict[str, type[Pass]] = {}
    for p in passes:
        if p.name in table:
            raise TypeError(f"pass name {p.name!r} registered twice")
        table[p.name] = p
    return table


@dataclass(frozen=True)
class PassManager:
    passes: Sequence[Pass]

    def run(self, graph: Graph) -> Graph:
        graph.verify()
        for p in self.passes:
            p.run(graph)
            try:
                graph.verify()
            except VerifyError as e:
                raise LoweringError(f"pass {p.name!r} left graph {graph.name!r} invalid: {e}") from e
        return graph
