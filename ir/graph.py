"""``Graph``: the IR container, a networkx ``MultiDiGraph`` of ops plus a side table of numpy parameters.

Each node holds exactly one attribute, ``op``. Each edge carries ``src_port`` and ``dst_port``. Passes and
frontends change a graph only through the methods here, never through networkx directly. Node order is insertion
order, and :meth:`Graph.toposort` breaks ties by it, so every walk (printing, saving, interpreting) is
deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import networkx as nx
import numpy as np

from errors import VerifyError
from ir.op import Op
from ir.types import TensorType

O = TypeVar("O", bound=Op)
Source = str | tuple[str, str]
"""A value feeding an input port: a node name (its ``out`` port) or ``(node, port)``."""


class Graph:
    """A dataflow graph of :class:`~ir.op.Op` nodes with named parameters and JSON metadata."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self._g: nx.MultiDiGraph = nx.MultiDiGraph()
        self.params: dict[str, np.ndarray] = {}
        self.meta: dict[str, Any] = {}

    # -- building -------------------------------------------------------------------------------------------------
    def add(self, name: str, op: Op, inputs: tuple[Source, ...] | list[Source] = ()) -> str:
        """Add node ``name`` holding ``op``, its input ports fed in order from ``inputs``; returns ``name``."""
        if not isinstance(name, str) or not name:
            raise VerifyError(f"node name must be a non-empty string, not {name!r}")
        if name in self._g:
            raise VerifyError(f"node {name!r} already exists")
        if not isinstance(op, Op):
            raise VerifyError(f"node {name!r} must hold an Op, not {op!r}")
        if len(inputs) != len(op.inputs):
            raise VerifyError(f"node {name!r} ({op.kind}) must have {len(op.inputs)} input(s), not {len(inputs)}")
        for src in inputs:
            src_node = src if isinstance(src, str) else src[0]
            if src_node not in self._g:
                raise VerifyError(f"node {name!r}: input {src_node!r} does not exist")
        self._g.add_node(name, op=op)
        for dst_port, src in zip(op.inputs, inputs, strict=True):
            self.connect(src, name, dst_port)
        return name

    def connect(self, src: Source, dst: str, dst_port: str = "in") -> None:
        """Feed input port ``dst_port`` of ``dst`` from ``src``."""
        src_node, src_port = (src, "out") if isinstance(src, str) else src
        for node in (src_node, dst):
            if node not in self._g:
                raise VerifyError(f"node {node!r} does not exist")
        self._g.add_edge(src_node, dst, src_port=src_port, dst_port=dst_port)

    @classmethod
    def from_parts(cls, name: str, nodes: list[tuple[str, Op]], edges: list[tuple[str, str, str, str]]) -> Graph:
        """Rebuild a graph from nodes and ``(src, src_port, dst, dst_port)`` edges (the loader's way in)."""
        graph = cls(name)
        for node, op in nodes:
            if node in graph._g:
                raise VerifyError(f"node {node!r} already exists")
            graph._g.add_node(node, op=op)
        for src, src_port, dst, dst_port in edges:
            graph.connect((src, src_port), dst, dst_port)
        return graph

    def add_param(self, name: str, value: np.ndarray) -> str:
        """Store an array in the parameter table under a new name; returns ``name``."""
        if name in self.params:
            raise VerifyError(f"parameter {name!r} already exists")
        self.params[name] = np.asarray(value)
        return name

    def insert_after(self, src: str, name: str, op: Op) -> str:
        """Add one-input node ``name`` fed by ``src``'s ``out`` port and move every user of that port onto it."""
        users = [(dst, dst_port) for dst, src_port, dst_port in self.users(src) if src_port == "out"]
        self.add(name, op, [src])
        for dst, dst_port in users:
            for key, data in list(self._g.get_edge_data(src, dst).items()):
                if data["src_port"] == "out" and data["dst_port"] == dst_port:
                    self._g.remove_edge(src, dst, key)
            self.connect(name, dst, dst_port)
        return name

    def replace(self, name: str, op: Op) -> None:
        """Swap the op of node ``name`` for ``op`` with the same ports, keeping its edges."""
        old = self.op(name)
        if old.inputs != op.inputs or old.outputs != op.outputs:
            raise VerifyError(f"node {name!r}: replacement {op.kind} must have the ports of {old.kind}")
        self._g.nodes[name]["op"] = op

    def remove(self, name: str) -> None:
        """Remove node ``name``; if it has one input and one output port, its users are rewired to its source."""
        op = self.op(name)
        users = self.users(name)
        if users:
            if len(op.inputs) != 1 or len(op.outputs) != 1:
                raise VerifyError(f"node {name!r} ({op.kind}) still has users and cannot be bypassed")
            (src,) = self.sources(name)
            for dst, _, dst_port in users:
                self._g.add_edge(src[0], dst, src_port=src[1], dst_port=dst_port)
        self._g.remove_node(name)

    # -- queries --------------------------------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def op(self, name: str) -> Op:
        if name not in self._g:
            raise VerifyError(f"node {name!r} does not exist")
        return self._g.nodes[name]["op"]

    def op_as(self, name: str, cls: type[O]) -> O:
        """The op of node ``name``, which must be a ``cls`` (a :class:`VerifyError` naming the node otherwise)."""
        op = self.op(name)
        if not isinstance(op, cls):
            raise VerifyError(f"node {name!r} must be {cls.kind}, not {op.kind}")
        return op

    def nodes(self) -> Iterator[tuple[str, Op]]:
        """Nodes in insertion order."""
        for name, data in self._g.nodes(data=True):
            yield name, data["op"]

    def sources(self, name: str) -> list[tuple[str, str]]:
        """``(node, port)`` feeding each input port of ``name``, in port order."""
        op = self.op(name)
        by_port: dict[str, tuple[str, str]] = {}
        for src, _, data in self._g.in_edges(name, data=True):
            if data["dst_port"] in by_port:
                raise VerifyError(f"node {name!r}: input port {data['dst_port']!r} is fed twice")
            by_port[data["dst_port"]] = (src, data["src_port"])
        missing = [p for p in op.inputs if p not in by_port]
        if missing:
            raise VerifyError(f"node {name!r} ({op.kind}): input port {missing[0]!r} is not connected")
        extra = sorted(set(by_port) - set(op.inputs))
        if extra:
            raise VerifyError(f"node {name!r} ({op.kind}) has no input port {extra[0]!r}")
        return [by_port[p] for p in op.inputs]

    def users(self, name: str) -> list[tuple[str, str, str]]:
        """``(user node, src_port, dst_port)`` for every edge leaving ``name``, in insertion order."""
        return [(dst, d["src_port"], d["dst_port"]) for _, dst, d in self._g.out_edges(name, data=True)]

    def toposort(self) -> list[str]:
        """Node names in dependency order, ties broken by insertion order."""
        order = {n: i for i, n in enumerate(self._g.nodes)}
        try:
            return list(nx.lexicographical_topological_sort(self._g, key=order.__getitem__))
        except nx.NetworkXUnfeasible as e:
            raise VerifyError(f"graph {self.name!r} has a cycle") from e

    def find(self, kind: str) -> list[str]:
        """Names of the nodes whose op has ``kind``, in insertion order."""
        return [n for n, op in self.nodes() if op.kind == kind]

    def edges(self) -> Iterator[tuple[str, str, str, str]]:
        """``(src, src_port, dst, dst_port)`` for every edge."""
        for src, dst, d in self._g.edges(data=True):
            yield src, d["src_port"], dst, d["dst_port"]

    # -- checking -------------------------------------------------------------------------------------------------
    def verify(self) -> dict[tuple[str, str], TensorType]:
        """Check the whole graph; returns the type of every ``(node, port)``. Raises :class:`VerifyError`."""
        ops = dict(self.nodes())
        types: dict[tuple[str, str], TensorType] = {}
        for name in self.toposort():
            op = ops[name]
            try:
                op.verify()
                for pname in op.params_used():
                    if pname not in self.params:
                        raise VerifyError(f"parameter {pname!r} is missing")
                    _check_param(pname, self.params[pname])
                for ref in op.nodes_used():
                    if ref not in ops:
                        raise VerifyError(f"referenced node {ref!r} does not exist")
                op.verify_refs(ops, self.params)
                ins = tuple(types[src] for src in self.sources(name))
                outs = op.infer(ins, self.params)
            except VerifyError as e:
                msg = str(e)
                prefix = f"node {name!r}"
                raise VerifyError(msg if msg.startswith(prefix) else f"{prefix} ({op.kind}): {msg}") from e
            for port, t in zip(op.outputs, outs, strict=True):
                types[(name, port)] = t
            for _, src_port, _ in self.users(name):
                if src_port not in op.outputs:
                    raise VerifyError(f"node {name!r} ({op.kind}) has no output port {src_port!r}")
        for pname, value in self.params.items():
            _check_param(pname, value)
        rules = self.find("learn.rule")
        if len(rules) > 1:
            raise VerifyError(f"graph {self.name!r} must have at most one learn.rule, not {len(rules)}")
        return types

    def param_refs(self) -> Mapping[str, list[str]]:
        """Parameter name → the nodes that read it."""
        refs: dict[str, list[str]] = {p: [] for p in self.params}
        for name, op in self.nodes():
            for p in op.params_used():
                refs.setdefault(p, []).append(name)
        return refs


def _check_param(name: str, value: object) -> None:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub" or value.dtype.itemsize > 8:
        shown = value.dtype.name if isinstance(value, np.ndarray) else type(value).__name__
        raise VerifyError(f"parameter {name!r} must be a numeric numpy array of at most 64 bits, not {shown}")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        index = np.unravel_index(int(np.flatnonzero(~np.isfinite(value))[0]), value.shape)
        bad = float(value[index])
        raise VerifyError(f"parameter {name!r} must be finite, not {bad!r} at index {tuple(int(i) for i in index)!r}")
