"""How many logic cells a learning design takes, from yosys, for ``fit-device`` to choose a lane count that fits.

``resources`` counts multipliers and block RAMs from the layer specs; logic cannot be counted that way (it grows
with the lanes and the engine, and not evenly: 64-64-10 Hebbian at P = 3 takes nearly what P = 4 does). A
learning engine is the one design that outgrows an iCE40's logic before its multipliers: Hebbian's lanes
multiply nothing in their update pass, so the UP5K's 8 multiplier cells admit 4 lanes, and at 4 lanes the
64-64-10 design needs 7,878 logic cells of the 5,280 (nextpnr). So, for those, ``fit-device`` synthesizes a
candidate's ``network.v`` with the family's ``synth`` command and takes **LUT4s + flip-flops** as its logic
estimate: nextpnr packs a LUT and a flip-flop into one cell, but the board's top (the UART, its FIFO) and the
cells that carry chains and unpaired flip-flops take come on top. Measured on the UP5K, 64-64-10 Hebbian: P = 1,
3,334 estimated and 4,210 placed; P = 2, 4,117 and 4,921; P = 3, 7,090; P = 4, 7,499 (7,878 needed: it does
not fit). The estimate is a guide that rules out mappings far too large; nextpnr remains the judge.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from backends.fpga.boards import Family
from backends.fpga.emit import build_network, verilog
from errors import BackendError
from ir import Graph

SYNTH = {"ice40": "synth_ice40 -dsp"}
"""The families whose logic ``fit-device`` checks, and the yosys command that maps a design to their cells."""
SYNTH_TIMEOUT_S = 600


def checks_logic(family: Family) -> bool:
    """Whether :func:`logic_estimate` knows the family and its yosys is on PATH."""
    return family.name in SYNTH and shutil.which(family.tools[0].command) is not None


def logic_estimate(graph: Graph, family: Family) -> int:
    """LUT4s + flip-flops of the graph's network (as mapped now) after the family's yosys synthesis."""
    yosys = family.tools[0].command
    with tempfile.TemporaryDirectory(prefix="neurocc-logic-") as tmp:
        source = Path(tmp) / "network.v"
        source.write_text(verilog(build_network(graph)))
        try:
            done = subprocess.run([yosys, "-p", f"read_verilog {source.name}; {SYNTH[family.name]} -top "
                                   "neurocc_network; stat"], capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S,
                                  cwd=tmp)  # (a relative name: whatever the temporary folder's path holds)
        except subprocess.TimeoutExpired as e:
            raise BackendError(f"{yosys}: synthesis of graph {graph.name!r} for its logic estimate ran past "
                               f"{SYNTH_TIMEOUT_S} s") from e
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BackendError(f"{yosys}: synthesis of graph {graph.name!r} for its logic estimate failed: {last[0]}")
    stat = done.stdout[done.stdout.rindex("Number of cells"):]
    counts = {name: int(n) for name, n in re.findall(r"^\s+(SB_\w+)\s+(\d+)$", stat, re.M)}
    return sum(n for name, n in counts.items() if name.startswith(("SB_LUT4", "SB_DFF")))
