"""Run ngspice in batch mode (``ngspice -b``) on a netlist and read node voltages back at full precision.

One process runs a whole batch of operating points: the ``.control`` block ``alter``s the input sources, runs
``op`` and prints the requested nodes with 17 digits, for every input in turn. The netlist must pass
:func:`circuits.analog.cards.check_netlist` first (only neurocc's cards; the only ``.control`` block is the one
written here), and ngspice runs in an empty temporary directory, so no ``.spiceinit`` of a folder is read.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from circuits.analog.cards import CheckedNetlist, check_netlist
from circuits.analog.netlist import Netlist, check_name, fmt
from errors import SimulationError, ToolNotFoundError

_VALUE = re.compile(r"^v\(([a-z0-9_]+)\)\s*=\s*(\S+)\s*$")


def ngspice_path() -> str:
    path = shutil.which("ngspice")
    if path is None:
        raise ToolNotFoundError("ngspice is not installed: apt-get install ngspice")
    return path


def checked(netlist: Netlist | CheckedNetlist | str) -> CheckedNetlist:
    """Any netlist as text that passed the card check (a :class:`CheckedNetlist` as it is)."""
    if isinstance(netlist, CheckedNetlist):
        return netlist
    if isinstance(netlist, Netlist):
        return check_netlist(netlist.text(), f"netlist {netlist.title!r}")
    return check_netlist(netlist, "the netlist")


def run_batch(netlist: Netlist | CheckedNetlist | str, probes: Sequence[str],
              sources: Mapping[str, np.ndarray] | None = None, timeout: float = 600.0) -> dict[str, np.ndarray]:
    """Operating points of ``netlist`` for each column of ``sources`` (``{vsource name: values (k,)}``, names as
    ``vin1``); returns ``{probe node: array (k,)}``. Text is card-checked (:func:`checked`) before it runs."""
    exe = ngspice_path()
    net = checked(netlist)
    sources = dict(sources or {})
    k = len(next(iter(sources.values()))) if sources else 1
    for name in list(sources) + list(probes):
        check_name(name)
    control = ["set numdgt=17"]
    prints = " ".join(f"v({p})" for p in probes)
    for i in range(k):
        control += [f"alter {name} dc = {fmt(values[i])}" for name, values in sources.items()]
        control += ["op", f"print {prints} >> out.txt"]
    control.append("quit")
    title = net.title
    text = net.body() + "\n".join([".control", *control, ".endc", ".end"]) + "\n"
    with tempfile.TemporaryDirectory(prefix="neurocc-ngspice-") as tmp:
        cir = Path(tmp) / "circuit.cir"
        cir.write_text(text)
        try:
            proc = subprocess.run([exe, "-b", str(cir)], cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired as e:
            raise SimulationError(f"ngspice ran past {timeout:.0f} s on {title!r}") from e
        out = Path(tmp) / "out.txt"
        text = out.read_text() if out.exists() else ""
    values: dict[str, list[float]] = {p: [] for p in probes}
    for line in text.splitlines():
        m = _VALUE.match(line.strip())
        if m and m.group(1) in values:
            values[m.group(1)].append(float(m.group(2)))
    if proc.returncode != 0 or any(len(v) != k for v in values.values()):
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise SimulationError(f"ngspice failed on {title!r} (exit {proc.returncode}, "
                              f"{min((len(v) for v in values.values()), default=0)} of {k} operating points): {tail}")
    return {p: np.array(v) for p, v in values.items()}
