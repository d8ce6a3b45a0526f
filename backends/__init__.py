"""Backends translate a fully lowered graph into circuits: ``spice`` (analog crossbars) and ``fpga`` (Amaranth).

They make no numerical decision of their own; passes decide and store every number in the IR.
"""

from collections.abc import Callable
from pathlib import Path

from backends.fpga import emit as _fpga_emit
from backends.spice import emit as _spice_emit

TARGETS: dict[str, Callable[..., Path]] = {"spice": _spice_emit, "fpga": _fpga_emit}
"""Target name → emitter (a fully lowered graph and an output folder in, the folder out)."""

