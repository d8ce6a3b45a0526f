"""Run ngspice in-process through PySpice's shared-library interface (``libngspice``).

PySpice 1.5 looks for ``libngspice.so``; Debian's ``libngspice0`` ships ``libngspice.so.0``, so
``NGSPICE_LIBRARY_PATH`` is pointed at it when the user has not set it. PySpice's warning that ngspice 39 is an
"unsupported version" is harmless and silenced. Values are read from ngspice's vectors directly (exact doubles).

ngspice sources a ``.spiceinit`` from the current directory when it starts (a file that may run ``shell``
commands), so the library is started from an empty temporary directory: a folder someone sent cannot slip one in.
The netlist passes the card check (:mod:`circuits.analog.cards`) before it is loaded.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from circuits.analog.cards import CheckedNetlist
from circuits.analog.netlist import Netlist, check_name, fmt
from circuits.analog.ngspice import checked
from errors import SimulationError, ToolNotFoundError

_LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib")


def _library() -> str:
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env and Path(env).is_file():
        return env
    for d in _LIBRARY_DIRS:
        for name in ("libngspice.so", "libngspice.so.0"):
            if (Path(d) / name).is_file():
                return str(Path(d) / name)
    found = ctypes.util.find_library("ngspice")
    if found:
        return found
    raise ToolNotFoundError("the ngspice shared library is not installed: apt-get install libngspice0")


@contextlib.contextmanager
def _empty_cwd() -> Iterator[None]:
    """Run the block in an empty temporary directory (ngspice reads ``./.spiceinit`` when it starts)."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="neurocc-ngspice-") as tmp:
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(here)


def _instance() -> Any:
    os.environ["NGSPICE_LIBRARY_PATH"] = _library()
    logging.getLogger("PySpice").setLevel(logging.ERROR)
    try:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared
    except ImportError as e:
        raise ToolNotFoundError("PySpice is not installed: pip install PySpice==1.5") from e
    with _empty_cwd():
        return NgSpiceShared.new_instance()


def run_batch_shared(netlist: Netlist | CheckedNetlist | str, probes: Sequence[str],
                     sources: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Like :func:`circuits.analog.ngspice.run_batch`, in-process; text is card-checked before it is loaded."""
    net = checked(netlist)
    for name in list(sources) + list(probes):
        check_name(name)
    ng = _instance()  # sets NGSPICE_LIBRARY_PATH, which PySpice reads when first imported
    from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError
    k = len(next(iter(sources.values()))) if sources else 1
    out: dict[str, list[float]] = {p: [] for p in probes}
    ng.load_circuit(net.text)
    ng._stderr.clear()  # PySpice 1.5 keeps ngspice's stderr lines here; its complaints name the failing node
    try:
        for i in range(k):
            for name, values in sources.items():
                ng.exec_command(f"alter {name} dc = {fmt(values[i])}")
            ng.exec_command("op")
            plot = ng.plot(None, ng.last_plot)
            for p in probes:
                out[p].append(float(plot[p]._data[0]))  # the raw double array PySpice maps from ngspice
            ng.exec_command("destroy all")
    except (NgSpiceCommandError, KeyError) as e:
        said = [line for line in ng._stderr if "singular" in line or "converge" in line or "rror" in line]
        detail = f" ({said[-1].strip()})" if said else ""
        raise SimulationError(f"ngspice (shared library) failed at operating point {i}: {e}{detail}") from e
    finally:
        ng.remove_circuit()
    return {p: np.array(v) for p, v in out.items()}
