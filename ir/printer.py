"""Deterministic text form of a graph: one op per line, then the parameter table (shape and digest) and metadata.

Used by ``neurocc inspect`` and by golden tests, so the format changes only on purpose. Names are printed as they
are when they are plain (letters, digits, ``_ . - :``) and as JSON strings otherwise, so a name from a model file
cannot carry a terminal escape sequence or a line break onto the screen.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import numpy as np

from ir.graph import Graph

_PLAIN = re.compile(r"[A-Za-z0-9_.:-]+\Z")


def show_name(name: str) -> str:
    """``name`` as it is if plain, else as a JSON string (every control and non-ASCII character escaped)."""
    return name if _PLAIN.match(name) else json.dumps(name)


def param_digest(value: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of an array's dtype, shape and little-endian C-order bytes."""
    arr = np.ascontiguousarray(value)
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def _value(v: Any) -> str:
    if isinstance(v, tuple):
        inner = ", ".join(_value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def _ref(node: str, port: str) -> str:
    return f"%{show_name(node)}" if port == "out" else f"%{show_name(node)}.{show_name(port)}"


def print_graph(graph: Graph) -> str:
    """The text form of ``graph`` (verifies it first, to print the type of every result)."""
    types = graph.verify()
    lines = [f"graph {json.dumps(graph.name)} {{"]
    for name in graph.toposort():
        op = graph.op(name)
        args = ", ".join(_ref(n, p) for n, p in graph.sources(name))
        attrs = ", ".join(f"{k}={_value(v)}" for k, v in op.fields().items())
        line = f"  %{show_name(name)} = {op.kind}({args}) {{{attrs}}}"
        outs = [str(types[(name, port)]) for port in op.outputs]
        if outs:
            line += " -> " + ", ".join(outs)
        lines.append(line)
    lines.append("}")
    lines.append("params {")
    for pname in sorted(graph.params):
        value = graph.params[pname]
        shape = "x".join(str(d) for d in value.shape)
        lines.append(f"  @{show_name(pname)} {value.dtype.name}[{shape}] sha256:{param_digest(value)}")
    lines.append("}")
    if graph.meta:
        lines.append("meta {")
        for key in sorted(graph.meta):
            value = graph.meta[key]
            if isinstance(value, list) and len(value) > 8:
                text = f"<list of {len(value)}, see --json>"
            else:
                text = json.dumps(value, sort_keys=True)
            lines.append(f"  {show_name(key)} = {text}")
        lines.append("}")
    return "\n".join(lines) + "\n"
