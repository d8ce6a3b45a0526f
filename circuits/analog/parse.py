"""A checked netlist's text read back into arrays: what the fast simulator (:mod:`circuits.analog.fast`) solves.

The text is the one ngspice is given (a :class:`~circuits.analog.cards.CheckedNetlist`: only the cards neurocc
writes), so the two simulators cannot see different circuits. Nodes are numbered in order of first appearance,
ground (``0``) is ``-1``. Numbers may carry SPICE's scale suffixes (a hand edit may write ``1k``); a diode model
may only set the parameters the fast simulator models (``is``, ``n``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from circuits.analog.cards import CheckedNetlist
from circuits.analog.netlist import BEHAVIOURS, DEVICES, GROUND
from circuits.analog.node_table import NodeTable
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
    names: Sequence[str] = field(default_factory=list)
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
    nodes: NodeTable
    r: Elements
    v: Elements
    e: Elements
    d: Elements
    emission: np.ndarray
    b: Behavioural
    devices: Devices

    def index(self, node: str) -> int:
        """The index of ``node`` (``-1`` for ground), or a :class:`SimulationError`."""
        return int(self.indices([node])[0])

    def indices(self, nodes: Sequence[str]) -> np.ndarray:
        """The index of each of ``nodes`` (``-1`` for ground), or a :class:`SimulationError` naming one that is
        not in the circuit."""
        found = self.nodes.find(nodes)
        if (found == -2).any():
            missing = nodes[int(np.flatnonzero(found == -2)[0])]
            raise SimulationError(f"circuit {self.title!r} has no node {missing!r}")
        return found


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


@dataclass
class Cards:
    """A netlist's elements before their nodes are numbered: what both readers produce (the text's,
    :func:`parse`, and the in-memory model's, :func:`circuits.analog.parse_model.parse_model`), so that one
    function, :func:`build`, arranges them for both. The resistors' terminals come numbered already (the bulk of
    the nodes, in order of first appearance: ``r_nodes``, and ``r_ends`` their indices, ground ``-1``), as each
    reader numbers them fastest; each row of the other kinds is ``(name, *nodes)``."""
    title: str
    r_names: Sequence[str]
    r_nodes: NodeTable
    r_ends: np.ndarray
    r_values: np.ndarray
    v: list[tuple[str, ...]]
    v_values: np.ndarray
    devices: list[tuple[str, ...]]
    device_g: np.ndarray
    device_k: np.ndarray
    device_sinh: np.ndarray
    e: list[tuple[str, ...]]
    e_values: np.ndarray
    d: list[tuple[str, ...]]
    d_is: np.ndarray
    d_n: np.ndarray
    b: list[tuple[str, ...]]
    b_fn: list[str]
    b_ctrl: list[str]
    b_a: np.ndarray
    b_g: np.ndarray


def build(cards: Cards) -> ParsedCircuit:
    """The circuit of ``cards``: nodes numbered in order of first appearance, the resistors' first, then the
    sources', devices', amplifiers', diodes' and behavioural sources' (their controls first)."""
    table = cards.r_nodes
    r = Elements(cards.r_names, np.asarray(cards.r_ends, dtype=np.int64).reshape(-1, 2),
                 np.asarray(cards.r_values, dtype=np.float64))
    kinds = [(cards.v, 2), (cards.devices, 2), (cards.e, 4), (cards.d, 2)]
    names = [n for rows, _ in kinds for row in rows for n in row[1:]]
    names += [*cards.b_ctrl, *(n for row in cards.b for n in row[1:])]
    ids = table.add(names)
    parts, at = [], 0
    for rows, width in kinds:
        parts.append(ids[at: at + width * len(rows)].reshape(-1, width))
        at += width * len(rows)
    v_nodes, dev_nodes, e_nodes, d_nodes = parts
    ctrl = ids[at: at + len(cards.b_ctrl)]
    b_nodes = ids[at + len(cards.b_ctrl):].reshape(-1, 2)
    v = Elements([x[0] for x in cards.v], v_nodes, np.asarray(cards.v_values, dtype=np.float64))
    devices = Devices([x[0] for x in cards.devices], dev_nodes, cards.device_g, cards.device_k,
                      cards.device_sinh) if cards.devices else Devices()
    e = Elements([x[0] for x in cards.e], e_nodes, np.asarray(cards.e_values, dtype=np.float64))
    d = Elements([x[0] for x in cards.d], d_nodes, np.asarray(cards.d_is, dtype=np.float64))
    b = Behavioural([x[0] for x in cards.b], b_nodes, ctrl, list(cards.b_fn),
                    np.asarray(cards.b_a, dtype=np.float64), np.asarray(cards.b_g, dtype=np.float64))
    return ParsedCircuit(cards.title, table, r, v, e, d, np.asarray(cards.d_n, dtype=np.float64), b, devices)


def _first_appearance(names: list[str]) -> tuple[NodeTable, np.ndarray]:
    """The distinct ``names`` but ground in order of first appearance, and each name's index (ground ``-1``)."""
    order = [n for n in dict.fromkeys(names) if n != GROUND]
    index = dict(zip(order, range(len(order)), strict=True))
    index[GROUND] = -1
    ends = operator.itemgetter(*names)(index) if len(names) > 1 else tuple(index[n] for n in names)
    return NodeTable(order, index), np.fromiter(ends, dtype=np.int64, count=len(names))


def parse(netlist: CheckedNetlist) -> ParsedCircuit:
    """The circuit ``netlist``'s text describes."""
    where = f"netlist {netlist.title!r}"
    lines = netlist.text.split("\n")[1:]
    by_kind: dict[str, list[str]] = {k: [] for k in "rvedb."}
    for line in lines:
        if line:
            by_kind[line[0]].append(line)
    models = _models([x for x in by_kind["."] if x.startswith(".model ")], where)
    v_rows = [x.split() for x in by_kind["v"]]  # "v<name> p m dc <value>"
    e_rows = [x.split() for x in by_kind["e"]]
    d_rows = [x.split() for x in by_kind["d"]]
    b_lines = [x.split(" ", 3) for x in by_kind["b"]]
    # Resistors, nearly every line: every card has exactly four fields (the card check), so all of them are
    # split at once.
    tokens = " ".join(by_kind["r"]).split()
    for x in d_rows:
        if x[3] not in models:
            raise SimulationError(f"{where}: diode {x[0]} uses model {x[3]!r}, which is not defined")
    devices = _devices([x for x in b_lines if x[3].startswith("i")], where)
    b_rows = [x for x in b_lines if x[3].startswith("v")]
    fn, ctrl, a, g = behavioural([x[0] for x in b_rows], [x[3] for x in b_rows], where)
    r_nodes, r_ends = _first_appearance(_interleave(tokens[1::4], tokens[2::4]))
    return build(Cards(
        netlist.title, tokens[0::4], r_nodes, r_ends, _numbers(tokens[3::4]),
        [tuple(x[:3]) for x in v_rows], _numbers([x[4] for x in v_rows]),
        *devices,
        [tuple(x[:5]) for x in e_rows], _numbers([x[5] for x in e_rows]),
        [tuple(x[:3]) for x in d_rows], np.array([models[x[3]][0] for x in d_rows], dtype=np.float64),
        np.array([models[x[3]][1] for x in d_rows], dtype=np.float64),
        [tuple(x[:3]) for x in b_rows], fn, ctrl, a, g))


def behavioural(names: list[str], exprs: list[str], where: str) -> tuple[list[str], list[str], np.ndarray,
                                                                          np.ndarray]:
    """Function, control node, ``a`` and ``g`` of behavioural voltage sources from their expressions
    (``v = …``, one of :data:`~circuits.analog.netlist.BEHAVIOURS`)."""
    fns, ctrl, a, g = [], [], [], []
    for name, expr in zip(names, exprs, strict=True):
        found = [(fn, m) for fn, pattern in _BEHAVIOURS.items() if (m := pattern.match(expr))]
        if not found:  # the card check admits only these templates
            raise SimulationError(f"{where}: behavioural source {name} is not one neurocc writes")
        fn, m = found[0]
        fns.append(fn)
        ctrl.append(m.group("ctrl"))
        a.append(number(m.group("a")))
        g.append(number(m.group("g")))
    return fns, ctrl, np.array(a, dtype=np.float64), np.array(g, dtype=np.float64)


def _devices(rows: list[list[str]], where: str) -> tuple[list[tuple[str, ...]], np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """The nonlinear devices' cards (``b<name> a b i = ...``), each of which must read its own terminals: rows,
    ``g``, ``k`` and whether each is a sinh device."""
    out: list[tuple[str, ...]] = []
    g, k, sinh = [], [], []
    for name, a, b, expr in rows:
        found = [(model, m) for model, pattern in _DEVICES.items() if (m := pattern.match(expr))]
        if not found:
            raise SimulationError(f"{where}: behavioural source {name} is not one neurocc writes")
        model, m = found[0]
        if (m.group("a"), m.group("b")) != (a, b):
            raise SimulationError(f"{where}: device {name} must carry the current of its own terminals {a}, {b}, "
                                  f"not of v({m.group('a')})-v({m.group('b')})")
        out.append((name, a, b))
        g.append(number(m.group("g")))
        k.append(number(m.group("k")))
        sinh.append(model == "sinh")
    return out, np.array(g, dtype=np.float64), np.array(k, dtype=np.float64), np.array(sinh, dtype=bool)
