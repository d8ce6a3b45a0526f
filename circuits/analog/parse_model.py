"""An in-memory :class:`~circuits.analog.netlist.Netlist` read into the arrays the fast simulator solves, without
writing and reading back its text.

The result is the one :func:`circuits.analog.parse.parse` gives for the netlist's text: the same
:func:`~circuits.analog.parse.build` numbers the nodes, and every number the text holds round-trips exactly
(17 significant digits, :mod:`circuits.analog.numbers`), so the arrays are equal to the last bit
(``tests/test_circuits_fast.py`` checks it). It skips the text, and it numbers the resistors' terminals as the
numpy byte strings the grids hold (:meth:`NodeTable.numbered <circuits.analog.node_table.NodeTable.numbered>`),
without a Python object per name: a 64×64 tile with wires is read in 1.5 ms against 8.8 ms from its text here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np

from circuits.analog.netlist import _UNSAFE, DeviceGrid, Netlist, ResistorGrid, device_coefficients
from circuits.analog.node_table import NodeTable
from circuits.analog.parse import Cards, ParsedCircuit, _models, behavioural, build


def _words(items: list[bytes], prefix: str = "") -> list[str]:
    """Byte strings as ``str``, each with ``prefix`` (decoded in one call)."""
    if not items:
        return []
    joined = (" " + prefix).encode("ascii").join(items).decode("ascii")
    return (prefix + joined).split(" ")


def _pairs(a: np.ndarray, b: np.ndarray) -> list[bytes]:
    """``a₀ b₀ a₁ b₁ …`` of two node arrays."""
    out: list[bytes] = [b""] * (2 * len(a))
    out[0::2], out[1::2] = a.tolist(), b.tolist()
    return out


def parse_model(net: Netlist) -> ParsedCircuit:
    """The circuit ``net`` describes, as :func:`~circuits.analog.parse.parse` reads it from ``net.text()``."""
    title = _UNSAFE.sub(" ", net.title.lower()).strip()
    where = f"netlist {title!r}"
    models = _models(list(net.models.values()), where)
    r_names: list[ResistorGrid | str] = []  # named when asked (an error message), not before
    r_ends: list[np.ndarray] = []
    r_values: list[np.ndarray] = []
    dev_rows: list[tuple[str, ...]] = []
    dev_g: list[np.ndarray] = []
    dev_k: list[np.ndarray] = []
    dev_sinh: list[np.ndarray] = []
    singles: dict[str, list[tuple[str, tuple[str, ...], float | str]]] = {k: [] for k in "VEDB"}
    for part in net.parts:
        if isinstance(part, ResistorGrid):
            a, b, ohms = part._present()
            if isinstance(part, DeviceGrid):
                names = part.names().tolist()
                g, k = device_coefficients(part.model, 1.0 / ohms, part.v0)
                ends = _words(_pairs(a, b))
                dev_rows += [(n, x, y) for n, x, y in zip(_words(names, "b"), ends[0::2], ends[1::2], strict=True)]
                dev_g.append(g)
                dev_k.append(np.full(len(g), k))
                dev_sinh.append(np.full(len(g), part.model == "sinh"))
            else:
                r_names.append(part)
                r_ends += [a, b]
                r_values.append(ohms)
        elif part[0] == "R":  # a single resistor, in its place among the grids (as the text has it)
            r_names.append("r" + part[1])
            terminals = np.array(part[2], dtype="S")
            r_ends += [terminals[:1], terminals[1:]]
            r_values.append(np.array([part[3]], dtype=np.float64))
        else:
            letter, name, nodes, value = part
            singles[letter].append((letter.lower() + name, nodes, value))
    b_rows = singles["B"]
    fn, ctrl, b_a, b_g = behavioural([x[0] for x in b_rows], [str(x[2]) for x in b_rows], where)
    d_models = [models[str(x[2])] for x in singles["D"]]
    width = max((x.dtype.itemsize for x in r_ends), default=1)
    pairs = np.empty((sum(len(x) for x in r_ends[0::2]), 2), dtype=f"S{width}")
    at = 0
    for a, b in zip(r_ends[0::2], r_ends[1::2], strict=True):  # a₀ b₀ a₁ b₁ …, as the text's lines have them
        pairs[at: at + len(a), 0], pairs[at: at + len(a), 1] = a, b
        at += len(a)
    r_nodes, r_ids = NodeTable.numbered(pairs.reshape(-1))
    return build(Cards(
        title, _Names(r_names), r_nodes, r_ids, np.concatenate(r_values) if r_values else np.zeros(0),
        *_rows(singles["V"]),
        dev_rows, _joined(dev_g), _joined(dev_k), _joined(dev_sinh).astype(bool),
        *_rows(singles["E"]),
        [(x[0], *x[1]) for x in singles["D"]], np.array([m[0] for m in d_models]),
        np.array([m[1] for m in d_models]),
        [(x[0], *x[1]) for x in b_rows], fn, ctrl, b_a, b_g))


class _Names(Sequence[str]):
    """The resistors' names, made on first use from their grids and single names."""

    def __init__(self, parts: list[ResistorGrid | str]) -> None:
        self._parts: list[ResistorGrid | str] | None = parts
        self._names: list[str] = []
        self._count = sum(len(p) if isinstance(p, ResistorGrid) else 1 for p in parts)

    def _made(self) -> list[str]:
        if self._parts is not None:
            for part in self._parts:
                self._names += _words(part.names().tolist(), "r") if isinstance(part, ResistorGrid) else [part]
            self._parts = None
        return self._names

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        return self._made()[i]


def _rows(elements: list[tuple[str, tuple[str, ...], float | str]]) -> tuple[list[tuple[str, ...]], np.ndarray]:
    return [(x[0], *x[1]) for x in elements], np.array([float(x[2]) for x in elements], dtype=np.float64)


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0)
