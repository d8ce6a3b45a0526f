"""The targets, one module each, in an explicit table: the CLI and :func:`compiler.api.compile` loop over it."""

from __future__ import annotations

from compiler.targets.base import Target
from compiler.targets.fpga import FpgaTarget
from compiler.targets.spice import SpiceTarget
from errors import ConfigError


def _table(*targets: Target) -> dict[str, Target]:
    table: dict[str, Target] = {}
    for t in targets:
        if t.name in table:
            raise TypeError(f"target name {t.name!r} registered twice")
        table[t.name] = t
    return table


TARGETS: dict[str, Target] = _table(
    SpiceTarget(),   # analog crossbars, a SPICE netlist, ngspice
    FpgaTarget(),    # fixed-point hardware, Verilog, Verilator; the learning rule on chip
)


def get_target(name: str) -> Target:
    target = TARGETS.get(name)
    if target is None:
        raise ConfigError(f"unknown target {name!r}: must be one of {', '.join(TARGETS)}")
    return target


__all__ = ["TARGETS", "Target", "get_target"]
