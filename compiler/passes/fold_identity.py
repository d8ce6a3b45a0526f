"""fold-identity: remove ``nn.activation`` nodes whose function is the identity (no circuit needed for them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from compiler.passes.base import Pass
from ir import Graph
from ir.dialects import nn


@dataclass(frozen=True)
class FoldIdentity(Pass):
    name: ClassVar[str] = "fold-identity"

    def run(self, graph: Graph) -> None:
        for node in graph.find(nn.Activation.kind):
            op = graph.op(node)
            if isinstance(op, nn.Activation) and op.fn == "identity":
                graph.remove(node)
