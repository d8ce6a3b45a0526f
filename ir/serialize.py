"""The model file: one zip archive holding ``neurocc.json`` (structure) and ``arrays/NNNN.npy`` (parameters).

No pickle anywhere, and nothing read is ever executed. The JSON has a ``format`` tag and a ``schema`` version;
loading another version is an error. Files are written to a temporary file and renamed into place, and the
archive is deterministic (fixed timestamps, sorted entries), so the same graph gives the same bytes.

A model file may come from anyone, so loading checks before it allocates (:mod:`ir.archive`: entry count,
declared array sizes against the file's size, JSON size and depth) and checks the type of every field against the
dataclasses below and each op's own annotations (:mod:`ir.schema`) before any op is built; then the graph is
verified. Every problem is one :class:`ModelFormatError` naming the file and, where there is one, the node.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from errors import ModelFormatError, VerifyError
from ir.archive import Archive
from ir.graph import Graph
from ir.op import op_from_fields
from ir.schema import convert

FORMAT = "neurocc-model"
SCHEMA_VERSION = 1
_STRUCTURE = "neurocc.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_NODES = 1 << 16
MAX_EDGES = 1 << 18
MAX_NAME = 256


@dataclass(frozen=True)
class NodeDoc:
    name: str
    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class EdgeDoc:
    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass(frozen=True)
class ParamDoc:
    name: str
    entry: str


@dataclass(frozen=True)
class ModelDoc:
    """The schema of ``neurocc.json``."""
    format: str
    schema: int
    name: str
    nodes: tuple[NodeDoc, ...]
    edges: tuple[EdgeDoc, ...]
    params: tuple[ParamDoc, ...]
    meta: dict[str, Any]


META: dict[str, Any] = {
    "dataset": str, "seed": int, "hidden": list[int], "test_accuracy": float, "history": list[dict[str, float]],
    "board": str,
}
"""Types of the metadata keys neurocc itself reads or writes; other keys may hold any JSON."""


def graph_to_json(graph: Graph) -> dict[str, Any]:
    """The JSON structure of a graph; parameters are listed by name and archive entry."""
    names = sorted(graph.params)
    return {
        "format": FORMAT,
        "schema": SCHEMA_VERSION,
        "name": graph.name,
        "nodes": [{"name": n, "kind": op.kind, "fields": op.fields()} for n, op in graph.nodes()],
        "edges": [{"src": s, "src_port": sp, "dst": d, "dst_port": dp} for s, sp, d, dp in graph.edges()],
        "params": [{"name": p, "entry": f"arrays/{i:04d}.npy"} for i, p in enumerate(names)],
        "meta": graph.meta,
    }


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Verify ``graph`` and write it to ``path`` atomically."""
    graph.verify()
    path = Path(path)
    doc = graph_to_json(graph)
    try:
        text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ModelFormatError(f"model {graph.name!r} cannot be written to {str(path)!r}: {e}") from e
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        _entry(zf, _STRUCTURE, text.encode())
        for item in doc["params"]:
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(graph.params[item["name"]]), allow_pickle=False)
            _entry(zf, item["entry"], arr.getvalue())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ModelFormatError(f"model file {str(path)!r} cannot be written: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ModelFormatError(f"model file {str(path)!r} cannot be written: {e.strerror or e}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> Graph:
    """Read and verify a model file; every problem is a :class:`ModelFormatError` naming the file."""
    where = f"model file {str(path)!r}"
    if not Path(path).is_file():
        raise ModelFormatError(f"{where} does not exist")
    with Archive(path, where) as archive:
        raw = archive.read_json(_STRUCTURE)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ModelFormatError(f"{where} is not a neurocc model: format must be {FORMAT!r}")
        if raw.get("schema") != SCHEMA_VERSION or isinstance(raw.get("schema"), bool):
            shown = repr(raw.get("schema"))[:40]
            raise ModelFormatError(f"{where} has schema version {shown}, but this neurocc reads version "
                                   f"{SCHEMA_VERSION}")
        doc = convert(raw, ModelDoc, f"{where}: {_STRUCTURE}")
        _check_doc(doc, where)
        expected = {p.entry for p in doc.params} | {_STRUCTURE}
        stray = sorted(set(archive.entries) - expected)
        if stray:
            raise ModelFormatError(f"{where} is corrupted: entry {stray[0]!r} is not one of its parameters")
        graph = _graph_from_doc(doc, where)
        for item in doc.params:
            graph.params[item.name] = archive.read_array(item.entry, f"array {item.name!r}")
    try:
        graph.verify()
    except VerifyError as e:
        raise ModelFormatError(f"{where}: {e}") from e
    return graph


def _check_doc(doc: ModelDoc, where: str) -> None:
    """Limits and uniqueness the types alone do not say."""
    if len(doc.nodes) > MAX_NODES or len(doc.edges) > MAX_EDGES:
        raise ModelFormatError(f"{where} has {len(doc.nodes)} nodes and {len(doc.edges)} edges, more than the "
                               f"{MAX_NODES} and {MAX_EDGES} allowed")
    names = [n.name for n in doc.nodes] + [p.name for p in doc.params]
    ports = [x for e in doc.edges for x in (e.src_port, e.dst_port)]
    for name in (doc.name, *names, *ports):
        if len(name) > MAX_NAME:
            raise ModelFormatError(f"{where}: name {name[:40]!r}... is longer than {MAX_NAME} characters")
    for what, items in (("parameter", [p.name for p in doc.params]), ("entry", [p.entry for p in doc.params])):
        seen: set[str] = set()
        for item in items:
            if item in seen or item == _STRUCTURE:
                raise ModelFormatError(f"{where} is corrupted: {what} {item!r} is listed twice")
            seen.add(item)
    for key, hint in META.items():
        if key in doc.meta:
            convert(doc.meta[key], hint, f"{where}: metadata {key!r}")


def _graph_from_doc(doc: ModelDoc, where: str) -> Graph:
    nodes = [(n.name, op_from_fields(n.kind, n.fields, f"{where}, node {n.name!r}")) for n in doc.nodes]
    try:
        graph = Graph.from_parts(doc.name, nodes, [(e.src, e.src_port, e.dst, e.dst_port) for e in doc.edges])
    except VerifyError as e:
        raise ModelFormatError(f"{where} is corrupted: {e}") from e
    graph.meta = dict(doc.meta)
    return graph
