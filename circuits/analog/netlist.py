"""A SPICE netlist model and neurocc's own fast, deterministic writer.

Single elements are appended as tuples; a crossbar's cells come as whole grids (:meth:`Netlist.resistor_grid`:
numpy arrays of nodes and values, checked and written by array operations, tens of nanoseconds an element).
Everything a netlist says passes through the checks here:

- :mod:`circuits.analog.numbers` writes every number, in exponent notation with 17 significant digits (a float
  round-trips exactly; no SI suffix, so SPICE's ``M`` = milli versus ``MEG`` pitfall cannot happen);
- :func:`check_name` admits node, element and model names only from ``[a-z0-9_]`` (``0`` is ground; lower case
  because SPICE folds case, so ``A`` and ``a`` would be one node), so no name can carry a newline, a
  ``.control`` card or any other SPICE text. :func:`safe_name` maps an arbitrary string (an IR node name, say)
  to such a name, stably.

Lines end with ``\\n``; the same calls always give the same bytes.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field

import numpy as np

from circuits.analog.numbers import fmt, number_field
from errors import BackendError

_NAME = re.compile(r"[a-z0-9_]+\Z")
_NAMES = re.compile(r"[a-z0-9_]+(?: [a-z0-9_]+)*\Z")  # an element's name and nodes, checked in one match
_UNSAFE = re.compile(r"[^a-z0-9_]")
_GRID_NAME = re.compile(r"(.*\D)\d+_\d+\Z")
_SAFE_BYTES = np.zeros(256, dtype=bool)
_SAFE_BYTES[list(b"abcdefghijklmnopqrstuvwxyz0123456789_")] = True
_PADDED_BYTES = _SAFE_BYTES.copy()
_PADDED_BYTES[0] = True  # the NUL padding of a numpy byte string
GROUND = "0"

__all__ = ["DEVICES", "GROUND", "DeviceGrid", "Netlist", "ResistorGrid", "check_name", "fmt", "safe_name"]


def check_name(name: str, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BackendError(f"SPICE {what} must match [a-z0-9_]+, not {name!r}")
    return name


def safe_name(text: str) -> str:
    """A SPICE-safe name for arbitrary text: unsafe characters become ``_`` and, if any were replaced, a short
    digest of the original keeps distinct inputs distinct."""
    cleaned = _UNSAFE.sub("_", text.lower())
    if cleaned == text and text:
        return text
    return f"{cleaned[:40]}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


BEHAVIOURS = {
    "tanh": "{a}*tanh({x})",
    "sigmoid": "{a}/(1+exp(-{x}))",
    "hardtanh": "{a}*min(max({x},-1),1)",
    "relu": "{a}*max({x},0)",
}
"""Templates of the behavioural sources (``x`` is the scaled control voltage)."""

DEVICES = {
    "sinh": "i = {g}*sinh((v({a})-v({b}))*{k})",
    "cubic": "i = {g}*(v({a})-v({b}))*(1+{k}*(v({a})-v({b}))*(v({a})-v({b})))",
}
"""Nonlinear crossbar devices as behavioural current sources between their terminals ``a`` and ``b``: for a
device of small-signal conductance ``G`` and characteristic voltage ``v0``, ``I = G v0 sinh(V / v0)`` (``g = G
v0``, ``k = 1 / v0``) or ``I = G V (1 + V² / v0²)`` (``g = G``, ``k = 1 / v0²``); both have ``dI/dV = G`` at 0."""


def device_coefficients(model: str, conductance: np.ndarray, v0: float) -> tuple[np.ndarray, float]:
    """``(g, k)`` of :data:`DEVICES`' template ``model`` for devices of conductance ``conductance``."""
    if model == "sinh":
        return conductance * v0, 1.0 / v0
    if model == "cubic":
        return conductance, 1.0 / (v0 * v0)
    raise BackendError(f"device model must be one of {', '.join(DEVICES)}, not {model!r}")


Element = tuple[str, str, tuple[str, ...], "float | str"]
"""``(letter, name, nodes, value)``: value is a number (R, V, E), a model name (D) or an expression (B)."""


def _check_nodes(nodes: np.ndarray) -> None:
    """Every entry of a byte-string array is a SPICE-safe node name (checked on the bytes, all at once)."""
    if nodes.dtype.kind != "S":
        raise BackendError(f"grid nodes must be a numpy byte-string array, not {nodes.dtype}")
    raw = nodes.reshape(-1).view(np.uint8).reshape(nodes.size, nodes.dtype.itemsize)
    if nodes.size and (not _PADDED_BYTES.take(raw).all() or not raw[:, 0].all()):
        bad = next(n for n in nodes.reshape(-1).tolist() if not _NAME.match(n.decode("latin-1")))
        raise BackendError(f"SPICE node name must match [a-z0-9_]+, not {bad.decode('latin-1')!r}")


@dataclass(frozen=True)
class ResistorGrid:
    """Resistors ``r<stem><i>_<j>`` from ``a[i, j]`` to ``b[i, j]`` of ``ohms[i, j]`` where ``mask[i, j]``
    (``i`` and ``j`` zero-padded to the grid's widest index)."""
    stem: str
    a: np.ndarray
    b: np.ndarray
    ohms: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return int(self.mask.sum())

    def names(self) -> np.ndarray:
        """Element names without the ``r``; indices zero-padded to one width per grid (all names one length)."""
        rows, cols = self.mask.shape
        wi, wj = len(str(rows - 1)), len(str(cols - 1))
        heads = np.frombuffer(b"".join(f"{self.stem}{i:0{wi}d}_".encode() for i in range(rows)), np.uint8)
        tails = np.frombuffer(b"".join(f"{j:0{wj}d}".encode() for j in range(cols)), np.uint8)
        head, width = len(heads) // max(rows, 1), len(heads) // max(rows, 1) + wj
        names = np.empty((rows, cols, width), dtype=np.uint8)
        names[:, :, :head] = heads.reshape(rows, 1, head)
        names[:, :, head:] = tails.reshape(1, cols, wj)
        names = names.reshape(-1).view(f"S{width}")
        return names if self.mask.all() else names[self.mask.reshape(-1)]

    def uniform(self) -> bool:
        """Whether every resistor of the grid has one value (wire segments, say): written once, then repeated."""
        ohms = self._present()[2]
        return bool((ohms == ohms[0]).all()) if len(ohms) else True

    def text(self, numbers: np.ndarray | None = None) -> str:
        """The grid's lines (no final newline), row by row: one byte matrix of fixed-width fields (nodes padded
        with spaces, which SPICE reads as separators), written out whole. ``numbers`` are the values as
        :func:`number_field` writes them (one, for a uniform grid); by default formatted here."""
        n = len(self)
        if not n:
            return ""
        a, b, ohms = self._present()
        if numbers is None:  # the netlist usually formats the values of all its grids in one batch
            numbers = number_field(ohms[:1] if self.uniform() else ohms)
        fields: list[bytes | np.ndarray] = [b"r", self.names(), b" ", a, b" ", b, numbers]
        widths = [len(f) if isinstance(f, bytes) else f.dtype.itemsize for f in fields]
        out = np.empty((n, sum(widths) + 1), dtype=np.uint8)
        at = 0
        for f, width in zip(fields, widths, strict=True):
            out[:, at: at + width] = np.frombuffer(f, np.uint8) if isinstance(f, bytes) else \
                f.view(np.uint8).reshape(len(f), width)
            at += width
        np.maximum(out, ord(" "), out=out)  # NUL padding → spaces (every byte written is > 32)
        out[:, at] = ord("\n")
        return str(out.reshape(-1)[:-1].data, "ascii")  # decoded straight from the array, without the last newline

    def elements(self) -> list[Element]:
        return [("R", n.decode(), (a.decode(), b.decode()), float(v)) for n, a, b, v in
                zip(self.names().tolist(), *(x.tolist() for x in self._present()), strict=True)]

    def _present(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nodes and values of the cells that hold a resistor, row by row (views when every cell does)."""
        if self.mask.all():
            return self.a.reshape(-1), self.b.reshape(-1), self.ohms.reshape(-1)
        return self.a[self.mask], self.b[self.mask], self.ohms[self.mask]


@dataclass(frozen=True)
class DeviceGrid(ResistorGrid):
    """Nonlinear devices ``b<stem><i>_<j>`` from ``a[i, j]`` to ``b[i, j]`` (:data:`DEVICES`' ``model`` with
    characteristic voltage ``v0``); ``ohms`` holds ``1 / G``, their small-signal resistance."""
    model: str = "sinh"
    v0: float = 1.0

    def _lines(self) -> list[str]:
        a, b, ohms = self._present()
        g, k = device_coefficients(self.model, 1.0 / ohms, self.v0)
        template = DEVICES[self.model].replace("{k}", fmt(k))
        numbers = number_field(g).tolist()
        return [f"b{n} {x} {y} " + template.format(g=v.decode("ascii").strip(), a=x, b=y)
                for n, x, y, v in zip(self.names().astype(str).tolist(), a.astype(str).tolist(),
                                      b.astype(str).tolist(), numbers, strict=True)]

    def text(self, numbers: np.ndarray | None = None) -> str:
        return "\n".join(self._lines())

    def elements(self) -> list[Element]:
        out: list[Element] = []
        for line in self._lines():
            name, x, y, expr = line.split(" ", 3)
            out.append(("B", name[1:], (x, y), expr))
        return out


def _single_lines(elements: list[Element]) -> list[str]:
    """Lines of single elements, their numbers formatted in one batch (:func:`number_field`)."""
    values = [value for _, _, _, value in elements if not isinstance(value, str)]
    numbers = iter(number_field(np.array(values)).tolist() if values else [])
    lines = []
    for letter, name, nodes, value in elements:
        shown = value if isinstance(value, str) else next(numbers).decode("ascii").strip()
        if letter == "V":
            shown = "dc " + shown
        lines.append(f"{letter.lower()}{name} {' '.join(nodes)} {shown}")
    return lines


@dataclass
class Netlist:
    """A flat netlist: models, elements and resistor grids, written by :meth:`text` and read by the nodal solver
    (through :attr:`elements`)."""

    title: str
    parts: list[Element | ResistorGrid] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)
    _grid_stems: set[str] = field(default_factory=set)
    _single_stems: set[str] = field(default_factory=set)  # stems of single resistors named like a grid's cell
    count: int = 0

    @property
    def elements(self) -> list[Element]:
        """Every element as a tuple (grids expanded), in netlist order."""
        out: list[Element] = []
        for part in self.parts:
            out.extend(part.elements() if isinstance(part, ResistorGrid) else [part])
        return out

    def _add(self, letter: str, name: str, nodes: tuple[str, ...], value: float | str) -> str:
        joined = " ".join((name, *nodes)) if all(isinstance(n, str) for n in (name, *nodes)) else ""
        if not _NAMES.match(joined) or joined.count(" ") != len(nodes):
            check_name(name, "element name")  # one of them is bad: say which
            for node in nodes:
                check_name(node, "node name")
        full = letter.lower() + name
        grid = _GRID_NAME.match(name) if letter == "R" else None
        if full in self._names or (grid and grid.group(1) in self._grid_stems):
            raise BackendError(f"element {full!r} is defined twice")
        self._names.add(full)
        if grid:
            self._single_stems.add(grid.group(1))
        self.parts.append((letter, name, nodes, value))
        self.count += 1
        return full

    def resistor_grid(self, stem: str, a: np.ndarray, b: np.ndarray, ohms: np.ndarray,
                      mask: np.ndarray | None = None) -> int:
        """Add resistors ``r<stem><i>_<j>`` between ``a[i, j]`` and ``b[i, j]`` (byte-string arrays) of
        ``ohms[i, j]`` wherever ``mask`` (default: everywhere); returns how many. The stem must end in a letter or
        ``_`` and is used once, so every name is distinct from every other in the netlist."""
        check_name(stem, "grid stem")
        if stem[-1].isdigit():
            raise BackendError(f"grid stem {stem!r} must not end in a digit")
        ohms = np.asarray(ohms, dtype=np.float64)
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        mask = np.ones(ohms.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if ohms.ndim != 2 or a.shape != ohms.shape or b.shape != ohms.shape or mask.shape != ohms.shape:
            raise BackendError(f"grid r{stem}: nodes, values and mask must share one 2-D shape")
        if stem in self._grid_stems or stem in self._single_stems:
            raise BackendError(f"resistor grid 'r{stem}' is defined twice (or a single resistor has its names)")
        _check_nodes(a)
        _check_nodes(b)
        bad = mask & ~((ohms > 0) & np.isfinite(ohms))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise BackendError(f"resistor r{stem}{i}_{j} must have a positive finite resistance, not "
                               f"{float(ohms[i, j])!r}")
        self._grid_stems.add(stem)
        grid = ResistorGrid(stem, a, b, ohms, mask)
        self.parts.append(grid)
        self.count += len(grid)
        return len(grid)

    def device_grid(self, stem: str, a: np.ndarray, b: np.ndarray, conductance: np.ndarray, mask: np.ndarray,
                    model: str, v0: float) -> int:
        """Add nonlinear devices ``b<stem><i>_<j>`` (:data:`DEVICES`' ``model``, small-signal conductance
        ``conductance[i, j]``, characteristic voltage ``v0``) wherever ``mask``; as :meth:`resistor_grid`."""
        if model not in DEVICES:
            raise BackendError(f"device model must be one of {', '.join(DEVICES)}, not {model!r}")
        if not (v0 > 0 and math.isfinite(v0)):
            raise BackendError(f"device grid b{stem}: v0 must be a positive finite voltage, not {v0!r}")
        ohms = 1.0 / np.where(mask, conductance, 1.0)
        count = self.resistor_grid(stem, a, b, ohms, mask)  # every check of a grid, then the part it added
        grid = self.parts.pop()
        assert isinstance(grid, ResistorGrid)
        self.parts.append(DeviceGrid(grid.stem, grid.a, grid.b, grid.ohms, grid.mask, model, float(v0)))
        return count

    def resistor(self, name: str, a: str, b: str, ohms: float) -> str:
        if not ohms > 0 or not math.isfinite(ohms):
            raise BackendError(f"resistor r{name} must have a positive finite resistance, not {ohms!r}")
        return self._add("R", name, (a, b), float(ohms))

    def vsource(self, name: str, plus: str, minus: str, volts: float) -> str:
        return self._add("V", name, (plus, minus), float(volts))

    def vcvs(self, name: str, plus: str, minus: str, ctrl_plus: str, ctrl_minus: str, gain: float) -> str:
        """``V(plus, minus) = gain · V(ctrl_plus, ctrl_minus)`` (an ideal amplifier of finite gain)."""
        return self._add("E", name, (plus, minus, ctrl_plus, ctrl_minus), float(gain))

    def diode(self, name: str, anode: str, cathode: str, model: str) -> str:
        check_name(model, "model name")
        if model not in self.models:
            raise BackendError(f"diode d{name} uses model {model!r}, which is not defined")
        return self._add("D", name, (anode, cathode), model)

    def behavioural(self, name: str, plus: str, minus: str, fn: str, ctrl: str, in_gain: float,
                    out_scale: float) -> str:
        """A behavioural voltage source ``V = out_scale · fn(in_gain · V(ctrl))`` for ``fn`` in :data:`BEHAVIOURS`
        (the expression is built here from a fixed template: no text from outside reaches it)."""
        if fn not in BEHAVIOURS:
            raise BackendError(f"behavioural function must be one of {', '.join(BEHAVIOURS)}, not {fn!r}")
        check_name(ctrl, "node name")
        x = f"({fmt(in_gain)}*v({ctrl}))"
        return self._add("B", name, (plus, minus), "v = " + BEHAVIOURS[fn].format(a=fmt(out_scale), x=x))

    def _grid_numbers(self) -> dict[int, np.ndarray]:
        """Every grid's values as text, formatted in one :func:`number_field` call (a uniform grid: one value)."""
        grids = [p for p in self.parts if isinstance(p, ResistorGrid) and not isinstance(p, DeviceGrid)]
        values = [g._present()[2][:1] if g.uniform() else g._present()[2] for g in grids]
        if not grids:
            return {}
        fields = number_field(np.concatenate(values))
        ends = np.cumsum([len(v) for v in values])
        return {id(g): fields[end - len(v): end] for g, v, end in zip(grids, values, ends, strict=True)}

    def model(self, name: str, kind: str, **params: float) -> None:
        check_name(name, "model name")
        check_name(kind, "model kind")
        body = " ".join(f"{check_name(k, 'model parameter')}={fmt(v)}" for k, v in sorted(params.items()))
        self.models[name] = f".model {name} {kind}({body})"

    def text(self, control: list[str] | None = None) -> str:
        """The whole netlist: title, models, elements, an optional ``.control`` block, ``.end``."""
        out = [("* " + _UNSAFE.sub(" ", self.title.lower())).rstrip(), *self.models.values()]
        numbers = self._grid_numbers()
        singles: list[Element] = []
        for part in [*self.parts, None]:
            if isinstance(part, tuple):
                singles.append(part)
                continue
            out.extend(_single_lines(singles))
            singles = []
            if isinstance(part, DeviceGrid):
                out.append(part.text())
            elif isinstance(part, ResistorGrid):
                out.append(part.text(numbers[id(part)]))
        if control:
            out += [".control", *control, ".endc"]
        out.append(".end")
        return "\n".join(part for part in out if part) + "\n"
