"""The netlist subset neurocc writes, as a gate before anything reaches ngspice.

ngspice executes more than circuits: ``.control`` blocks (``shell`` runs a command), ``*#`` comment lines,
``.include``/``.lib`` (which read, and quote, other files), ``.param`` expressions, code models. A netlist that
reaches it through neurocc must consist of nothing but the cards neurocc's writer produces
(:mod:`circuits.analog.netlist`):

- a title line ``* <lower-case words>`` first, ``.end`` last (blank lines allowed between);
- ``.model <name> d(<param>=<number> ...)`` (diode models only);
- elements ``r`` (two nodes and a value), ``v`` (two nodes, ``dc`` and a value), ``e`` (four nodes and a gain),
  ``d`` (two nodes and a model name) and ``b`` (two nodes and ``v = `` one of the behavioural templates of
  :data:`~circuits.analog.netlist.BEHAVIOURS`, with numbers and a ``v(<node>)`` filled in, or a nonlinear
  device's current ``i = `` one of :data:`~circuits.analog.netlist.DEVICES`);

names are ``[a-z0-9_]+`` and numbers plain decimals with an optional exponent or SPICE scale suffix (so a hand
edit may write ``1k``). Upper case is refused outright: the writer never produces it, and ``.CONTROL`` is
``.control`` to ngspice. :func:`check_netlist` returns a :class:`CheckedNetlist`, the only kind of text the ngspice
runners accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from circuits.analog.netlist import BEHAVIOURS, DEVICES
from errors import SimulationError

_N = r"[a-z0-9_]+"
_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?(?:meg|mil|[fpnumkgt])?"
_S = r" +"


def _behaviour(template: str) -> str:
    x = re.escape("(") + _NUM + re.escape("*v(") + _N + re.escape("))")
    return re.escape(template).replace(re.escape("{a}"), _NUM).replace(re.escape("{x}"), x)


def _device(template: str) -> str:
    out = re.escape(template)
    for field, pattern in (("g", _NUM), ("k", _NUM), ("a", _N), ("b", _N)):
        out = out.replace(re.escape("{" + field + "}"), pattern)
    return out


_CARDS: dict[str, re.Pattern[str]] = {
    "r": re.compile(rf"r{_N}{_S}{_N}{_S}{_N}{_S}{_NUM} *"),
    "v": re.compile(rf"v{_N}{_S}{_N}{_S}{_N}{_S}dc{_S}{_NUM} *"),
    "e": re.compile(rf"e{_N}(?:{_S}{_N}){{4}}{_S}{_NUM} *"),
    "d": re.compile(rf"d{_N}{_S}{_N}{_S}{_N}{_S}{_N} *"),
    "b": re.compile(rf"b{_N}{_S}{_N}{_S}{_N}{_S}(?:v = (?:{'|'.join(_behaviour(t) for t in BEHAVIOURS.values())})|"
                    rf"{'|'.join(_device(t) for t in DEVICES.values())}) *"),
    ".": re.compile(rf"\.model {_N} d\((?:{_N}={_NUM}(?: {_N}={_NUM})*)?\)|\.end"),
}
_TITLE = re.compile(r"\*(?: [a-z0-9_ ]*)?")
_SHOWN = 40


@dataclass(frozen=True)
class CheckedNetlist:
    """Netlist text that :func:`check_netlist` passed: only neurocc's cards, ending in ``.end``."""

    text: str
    title: str

    def body(self) -> str:
        """The text without its final ``.end`` (where a runner appends its own ``.control`` block)."""
        return self.text.rstrip()[: -len(".end")]


def check_netlist(text: str, where: str) -> CheckedNetlist:
    """``text`` as a :class:`CheckedNetlist`, or a :class:`SimulationError` naming ``where``, the line and the
    card that neurocc does not write."""
    lines = text.split("\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines or not _TITLE.fullmatch(lines[0]):
        first = lines[0][:_SHOWN] if lines else ""
        raise SimulationError(f"{where} line 1 must be a title '* <words>' as neurocc writes it, not {first!r}")
    if lines[-1] != ".end":
        raise SimulationError(f"{where} must end with .end, not {lines[-1][:_SHOWN]!r}")
    for number, line in enumerate(lines[1:-1], start=2):
        pattern = _CARDS.get(line[:1])
        if line and (pattern is None or not pattern.fullmatch(line) or line == ".end"):
            card = line.split()[0] if line.split() else line
            raise SimulationError(f"{where} line {number}: {card[:_SHOWN]!r} is not a card neurocc writes (r, v, "
                                  "e, d and b elements, .model d, .end; lower case)")
    return CheckedNetlist("\n".join(lines) + "\n", lines[0].lstrip("* "))
