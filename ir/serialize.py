"""The model file: one zip archive holding ``neurocc.json`` (structure) and ``arrays/NNNN.npy`` (parameters).

No pickle anywhere: arrays are written and read with ``allow_pickle=False``. The JSON has a ``format`` tag and a
``schema`` version; loading another version is an error. Files are written to a temporary file and renamed into
place, and the archive is deterministic (fixed timestamps, sorted entries), so the same graph gives the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ir.errors import ModelFormatError, VerifyError
from ir.graph import Graph
from ir.op import op_from_fields

FORMAT = "neurocc-model"
SCHEMA_VERSION = 1
_STRUCTURE = "neurocc.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(zf: zipfile.ZipFile, entry: str, where: str) -> bytes:
    try:
        return zf.read(entry)
    except KeyError as e:
        raise ModelFormatError(f"{where} is not a neurocc model: entry {entry!r} is missing") from e
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as e:
        raise ModelFormatError(f"{where} is corrupted: entry {entry!r} cannot be read ({e})") from e


def load(path: str | os.PathLike[str]) -> Graph:
    """Read and verify a model file; every problem is a :class:`ModelFormatError` naming the file."""
    where = f"model file {str(path)!r}"
    if not Path(path).is_file():
        raise ModelFormatError(f"{where} does not exist")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFormatError(f"{where} is truncated or corrupted: it is not a readable zip archive") from e
    with zf:
        try:
            doc = json.loads(_read(zf, _STRUCTURE, where))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelFormatError(f"{where} is corrupted: {_STRUCTURE} is not valid JSON ({e})") from e
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ModelFormatError(f"{where} is not a neurocc model: format must be {FORMAT!r}")
        if doc.get("schema") != SCHEMA_VERSION:
            raise ModelFormatError(
                f"{where} has schema version {doc.get('schema')!r}, but this neurocc reads version {SCHEMA_VERSION}"
            )
        try:
            graph = _graph_from_json(doc, where)
            for item in doc["params"]:
                raw = _read(zf, item["entry"], where)
                try:
                    graph.params[item["name"]] = np.load(io.BytesIO(raw), allow_pickle=False)
                except (ValueError, OSError, EOFError) as e:
                    raise ModelFormatError(f"{where} is corrupted: array {item['name']!r} cannot be read ({e})") from e
        except (KeyError, TypeError, AttributeError) as e:
            raise ModelFormatError(f"{where} is corrupted: its structure lacks or mistypes {e}") from e
    try:
        graph.verify()
    except VerifyError as e:
        raise ModelFormatError(f"{where}: {e}") from e
    return graph


def _graph_from_json(doc: dict[str, Any], where: str) -> Graph:
    nodes = [(n["name"], op_from_fields(n["kind"], n["fields"], f"{where}, node {n['name']!r}")) for n in doc["nodes"]]
    edges = [(e["src"], e["src_port"], e["dst"], e["dst_port"]) for e in doc["edges"]]
    try:
        graph = Graph.from_parts(str(doc["name"]), nodes, edges)
    except VerifyError as e:
        raise ModelFormatError(f"{where} is corrupted: {e}") from e
    graph.meta = dict(doc["meta"])
    return graph
