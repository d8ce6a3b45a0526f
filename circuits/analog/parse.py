"""A checked netlist's text read back into arrays: what the fast simulator (:mod:`circuits.analog.fast`) solves.

The text is the one ngspice is given (a :class:`~circuits.analog.cards.CheckedNetlist`: only the cards neurocc
writes), so the two simulators cannot see different circuits. Nodes are numbered in order of first appearance,
ground (``0``) is ``-1``. Numbers may carry SPICE's scale suffixes (a hand edit may write ``1k``); a diode model
may only set the parameters the fast simulator models (``is``, ``n``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from circuits.analog.cards import CheckedNetlist
from circuits.analog.netlist import BEHAVIOURS, DEVICES, GROUND
from errors import SimulationError

_SUFFIXES = {"meg": 1e6, "mil": 25.4e-6, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3,
             "g": 1e9, "t": 1e12}
_SCALED = re.compile(r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?)(meg|mil|[fpnumkgt])?\Z")
_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?(?:meg|mil|[fpnumkgt])?"
DIODE_DEFAULTS = {"is": 1e-14, "n": 1.0}
"""The diode model parameters the fast simulator takes (ngspice's defaults); any other is refused."""


def _behaviour_pattern(template: str) -> re.Pattern[str]:
    x = r"\((?P<g>" + _NUM + r")\*v\((?P<ctrl>[a-z0-9_]+)\)\)"
    body = re.escape(template).replace(re.escape("{a}"), f"(?P<a>{_NUM})").replace(re.escape("{x}"), x)
    return re.compile(r"v = " + body + r" *\Z")


_BEHAVIOURS = {fn: _behaviour_pattern(t) for fn, t in BEHAVIOURS.items()}


def _device_pattern(template: str) -> re.Pattern[str]:
    out = re.escape(template)
    for name, pattern in (("g", _NUM), ("k", _NUM), ("a", "[a-z0-9_]+"), ("b", "[a-z0-9_]+")):
        token = re.escape("{" + name + "}")
        out = out.replace(token, f"(?P<{name}>{pattern})", 1).replace(token, f"(?P={name})")
    return re.compile(out + r" *\Z")


_DEVICES = {model: _device_pattern(t) for model, t in DEVICES.items()}


def number(text: str) -> float:
    """A SPICE number (``2.5e-3``, ``1k``, ``3meg``)."""
    try:
        return float(text)
    except ValueError:
        pass
    m = _SCALED.match(text)
    if not m:
        raise SimulationError(f"{text!r} is not a SPICE number")
    return float(m.group(1)) * _SUFFIXES[m.group(2)] if m.group(2) else float(m.group(1))


def _numbers(texts: list[str]) -> np.ndarray:
    """Many numbers at once (numpy's parser; SPICE suffixes one by one)."""
    try:
        return np.array(texts, dtype=np.float64) if texts else np.zeros(0)
    except ValueError:
        return np.array([number(t) for t in texts], dtype=np.float64)


@dataclass
class Elements:
    """One kind of element: names (with the letter, as ngspice names them), node indices (one column per
    terminal) and values."""
    names: list[str] = field(default_factory=list)
    nodes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Behavioural:
    """Behavioural sources ``V(p, m) = a · fn(g · V(ctrl))``."""
    names: list[str]
    nodes: np.ndarray   # (k, 2): p, m
    ctrl: np.ndarray    # (k,)
    fn: list[str]
    a: np.ndarray
    g: np.ndarray

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Devices:
    """Nonlinear two-terminal devices: current ``g·sinh(k·V)`` or ``g·V·(1 + k·V²)`` from ``nodes[:, 0]`` to
    ``nodes[:, 1]`` (``V`` between them), by ``model``."""
    names: list[str] = field(default_factory=list)
    nodes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    g: np.ndarray = field(default_factory=lambda: np.zeros(0))
    k: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sinh: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # else cubic

    def __len__(self) -> int:
        return len(self.names)

    def current(self, volts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each device's current and its slope at ``volts`` (devices on the last axis)."""
        kv = self.k * volts
        arg = np.clip(kv, -700.0, 700.0)  # finite far outside any operating point (an iterate may pass there)
        sinh = np.where(self.sinh, self.g * np.sinh(arg), self.g * volts * (1 + kv * volts))
        slope = np.where(self.sinh, self.g * self.k * np.cosh(arg), self.g * (1 + 3 * kv * volts))
        return sinh, slope


@dataclass
class ParsedCircuit:
    """The circuit of one netlist: resistors, voltage sources, VCVS (nodes p, m, control +, control −; value the
    gain), diodes (values: saturation current; ``emission``: n) and behavioural sources."""
    title: str
    nodes: list[str]
    r: Elements
    v: Elements
    e: Elements
    d: Elements
    emission: np.ndarray
    b: Behavioural
    devices: Devices
    lookup: dict[str, int]  # node → index (ground: -1)

    def index(self, node: str) -> int:
        """The index of ``node`` (``-1`` for ground), or a :class:`SimulationError`."""
        if node == GROUND:
            return -1
        try:
            return self.lookup[node]
        except KeyError:
            raise SimulationError(f"circuit {self.title!r} has no node {node!r}") from None


def _models(lines: list[str], where: str) -> dict[str, tuple[float, float]]:
    """``{model name: (is, n)}`` from the ``.model`` cards."""
    models = {}
    for line in lines:
        name, rest = line[len(".model "):].split(" ", 1)
        params = dict(DIODE_DEFAULTS)
        body = rest[rest.index("(") + 1: rest.rindex(")")]
        for item in body.split():
            key, value = item.split("=")
            if key not in DIODE_DEFAULTS:
                raise SimulationError(f"{where}: diode model {name!r} sets {key!r}, which the fast simulator does "
                                      f"not model (it takes {', '.join(DIODE_DEFAULTS)}): use --simulator ngspice")
            params[key] = number(value)
        models[name] = (params["is"], params["n"])
    return models


def _interleave(a: list[str], b: list[str]) -> list[str]:
    out = [""] * (2 * len(a))
    out[0::2], out[1::2] = a, b
    return out


def parse(netlist: CheckedNetlist) -> ParsedCircuit:
    """The circuit ``netlist`` describes."""
    where = f"netlist {netlist.title!r}"
    index: dict[str, int] = {GROUND: -1}
    order: list[str] = []

    def node(name: str) -> int:
        i = index.get(name)
        if i is None:
            i = index[name] = len(order)
            order.append(name)
        return i

    lines = netlist.text.split("\n")[1:]
    by_kind: dict[str, list[str]] = {k: [] for k in "rvedb."}
    for line in lines:
        if line:
            by_kind[line[0]].append(line)
    models = _models([x for x in by_kind["."] if x.startswith(".model ")], where)
    cards: dict[str, list[list[str]]] = {}
    for kind in "ved":
        cards[kind] = [x.split() for x in by_kind[kind]]
    b_lines = [x.split(" ", 3) for x in by_kind["b"]]
    cards["b"] = [x for x in b_lines if x[3].startswith("v")]

    # Resistors, nearly every line: every card has exactly four fields (the card check), so all of them are
    # split at once and the nodes numbered in one pass.
    tokens = " ".join(by_kind["r"]).split()
    terminals = _interleave(tokens[1::4], tokens[2::4])
    order.extend(n for n in dict.fromkeys(terminals) if n != GROUND)  # numbered in order of appearance
    index.update(zip(order, range(len(order)), strict=True))
    ends = operator.itemgetter(*terminals)(index) if terminals else ()
    r = Elements(tokens[0::4], np.fromiter(ends, dtype=np.int64, count=len(terminals)).reshape(-1, 2),
                 _numbers(tokens[3::4])) if tokens else Elements()

    def two_terminal(rows: list[list[str]], value_at: int) -> Elements:
        if not rows:
            return Elements()
        nodes = np.array([[node(r[1]), node(r[2])] for r in rows], dtype=np.int64)
        return Elements([r[0] for r in rows], nodes, _numbers([r[value_at] for r in rows]))

    v = two_terminal(cards["v"], 4)  # "v<name> p m dc <value>"
    devices = _devices([x for x in b_lines if x[3].startswith("i")], node, where)
    e_rows = cards["e"]
    e = Elements([x[0] for x in e_rows],
                 np.array([[node(n) for n in x[1:5]] for x in e_rows], dtype=np.int64).reshape(-1, 4),
                 _numbers([x[5] for x in e_rows]))
    d_rows = cards["d"]
    for x in d_rows:
        if x[3] not in models:
            raise SimulationError(f"{where}: diode {x[0]} uses model {x[3]!r}, which is not defined")
    d = Elements([x[0] for x in d_rows], np.array([[node(x[1]), node(x[2])] for x in d_rows],
                                                  dtype=np.int64).reshape(-1, 2),
                 np.array([models[x[3]][0] for x in d_rows], dtype=np.float64))
    emission = np.array([models[x[3]][1] for x in d_rows], dtype=np.float64)
    fns, ctrl, a, g = [], [], [], []
    for x in cards["b"]:
        found = [(fn, m) for fn, pattern in _BEHAVIOURS.items() if (m := pattern.match(x[3]))]
        if not found:  # the card check admits only these templates
            raise SimulationError(f"{where}: behavioural source {x[0]} is not one neurocc writes")
        fn, m = found[0]
        fns.append(fn)
        ctrl.append(node(m.group("ctrl")))
        a.append(number(m.group("a")))
        g.append(number(m.group("g")))
    b = Behavioural([x[0] for x in cards["b"]],
                    np.array([[node(x[1]), node(x[2])] for x in cards["b"]], dtype=np.int64).reshape(-1, 2),
                    np.array(ctrl, dtype=np.int64), fns, np.array(a, dtype=np.float64), np.array(g, dtype=np.float64))
    return ParsedCircuit(netlist.title, order, r, v, e, d, emission, b, devices, index)


def _devices(rows: list[list[str]], node: Callable[[str], int], where: str) -> Devices:
    """The nonlinear devices' cards (``b<name> a b i = ...``): each must read its own terminals."""
    names, ends, g, k, sinh = [], [], [], [], []
    for name, a, b, expr in rows:
        found = [(model, m) for model, pattern in _DEVICES.items() if (m := pattern.match(expr))]
        if not found:
            raise SimulationError(f"{where}: behavioural source {name} is not one neurocc writes")
        model, m = found[0]
        if (m.group("a"), m.group("b")) != (a, b):
            raise SimulationError(f"{where}: device {name} must carry the current of its own terminals {a}, {b}, "
                                  f"not of v({m.group('a')})-v({m.group('b')})")
        names.append(name)
        ends.append((a, b))
        g.append(number(m.group("g")))
        k.append(number(m.group("k")))
        sinh.append(model == "sinh")
    if not names:
        return Devices()
    nodes = np.array([[node(a), node(b)] for a, b in ends], dtype=np.int64)
    return Devices(names, nodes, np.array(g), np.array(k), np.array(sinh, dtype=bool))
