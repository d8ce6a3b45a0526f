"""A SPICE netlist model and neurocc's own fast, deterministic writer.

Elements are appended to plain lists and written with one ``join``: no object per element beyond a tuple, so
large crossbars are cheap to build. Everything a netlist says passes through two functions here:

- :func:`fmt` writes every number, in plain exponent notation with 17 significant digits (a float round-trips
  exactly; no SI suffix, so SPICE's ``M`` = milli versus ``MEG`` pitfall cannot happen);
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

from ir.errors import BackendError

_NAME = re.compile(r"[a-z0-9_]+\Z")
_UNSAFE = re.compile(r"[^a-z0-9_]")
GROUND = "0"


def fmt(value: float) -> str:
    """The one place numbers are written: exact (``repr``-precision) plain exponent notation."""
    v = float(value)
    if not math.isfinite(v):
        raise BackendError(f"netlist value must be finite, not {v!r}")
    return f"{v:.17g}"


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

Element = tuple[str, str, tuple[str, ...], "float | str"]
"""``(letter, name, nodes, value)``: value is a number (R, V, E), a model name (D) or an expression (B)."""


@dataclass
class Netlist:
    """A flat netlist: models and elements, written by :meth:`text` and read by the nodal solver."""

    title: str
    elements: list[Element] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)

    def _add(self, letter: str, name: str, nodes: tuple[str, ...], value: float | str) -> str:
        check_name(name, "element name")
        for node in nodes:
            check_name(node, "node name")
        full = letter.lower() + name
        if full in self._names:
            raise BackendError(f"element {full!r} is defined twice")
        self._names.add(full)
        self.elements.append((letter, name, nodes, value))
        return full

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

    def model(self, name: str, kind: str, **params: float) -> None:
        check_name(name, "model name")
        check_name(kind, "model kind")
        body = " ".join(f"{check_name(k, 'model parameter')}={fmt(v)}" for k, v in sorted(params.items()))
        self.models[name] = f".model {name} {kind}({body})"

    def text(self, control: list[str] | None = None) -> str:
        """The whole netlist: title, models, elements, an optional ``.control`` block, ``.end``."""
        out = [("* " + _UNSAFE.sub(" ", self.title.lower())).rstrip(), *self.models.values()]
        for letter, name, nodes, value in self.elements:
            shown = value if isinstance(value, str) else fmt(value)
            if letter == "V":
                shown = "dc " + shown
            out.append(f"{letter.lower()}{name} {' '.join(nodes)} {shown}")
        if control:
            out += [".control", *control, ".endc"]
        out.append(".end")
        return "\n".join(out) + "\n"
