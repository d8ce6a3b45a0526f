"""The top level of a board build: the board's UART, the host bridge, and the folder's own ``network.v``.

The network enters as an ``Instance`` of the verified Verilog module ``neurocc_network`` (the very text
``neurocc verify`` simulated), not as a second elaboration of the Amaranth design; the UART and the bridge
(:mod:`circuits.digital.uart`, :mod:`circuits.digital.bridge`) are elaborated here.
"""

from __future__ import annotations

from amaranth import ClockDomain, ClockSignal, Const, Elaboratable, Instance, Module, ResetSignal, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.fifo import SyncFIFOBuffered

from backends.fpga.pll import Ecp5Pll, Ice40Pll
from circuits.digital.bridge import Bridge, LinkShape
from circuits.digital.network import LayerSpec, Network
from circuits.digital.shared_network import SharedNetwork
from circuits.digital.uart import UartRx, UartTx
from errors import UnsupportedOpError

NETWORK_MODULE = "neurocc_network"


def _range_bits(n: int) -> int:
    """The width of Amaranth's ``range(max(n, 2))``: how the network sizes its weight-port indices."""
    return (max(n, 2) - 1).bit_length()


def link_shape(specs: list[LayerSpec], learns: bool) -> LinkShape:
    """The bridge's view of the network ``specs`` make: its sizes and the widths of its ports (as
    :func:`~circuits.digital.streams.network_ports` declares them). The protocol addresses rows and columns in two
    bytes and layers in one."""
    widest = max(max(s.columns, s.n_out) for s in specs)
    if widest > 0xFFFF or len(specs) > 0xFF:
        raise UnsupportedOpError(f"the host link addresses at most 65535 rows or columns and 255 layers; this network "
                                 f"has a layer {widest} wide and {len(specs)} layers")
    return LinkShape(n_in=specs[0].n_in, n_out=specs[-1].n_out, in_bits=specs[0].in_bits,
                     out_bits=specs[-1].out_bits, w_bits=max(s.w_bits for s in specs),
                     layer_bits=_range_bits(len(specs)), row_bits=_range_bits(max(s.n_out for s in specs)),
                     col_bits=_range_bits(max(s.columns for s in specs)), learns=learns)


class LinkedNetwork(wiring.Component):
    """UART, bridge and network in one, the serial lines as ports (for simulation: the same logic a board
    build places, with the network elaborated rather than instanced)."""

    def __init__(self, net: Network | SharedNetwork, divisor: int) -> None:
        self.net, self.divisor = net, divisor
        super().__init__({"rx": wiring.In(1, init=1), "tx": wiring.Out(1, init=1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.network = self.net
        bridge = _link(m, link_shape(self.net.specs, self.net.learn is not None), self.divisor, self.rx, self.tx)
        for name in ("i", "o"):
            wiring.connect(m, getattr(bridge, name), getattr(self.net, name))
        for name in ("w_layer", "w_row", "w_col", "w_data", "w_we", "train"):
            m.d.comb += getattr(self.net, name).eq(getattr(bridge, name))
        m.d.comb += [bridge.w_rdata.eq(self.net.w_rdata), bridge.idle.eq(self.net.idle)]
        return m


RX_FIFO_DEPTH = 32
"""Bytes the link buffers while the bridge waits (for the network to go idle, or for an answer to leave); a host
sends fewer ahead than this (:data:`backends.fpga.host.BATCH` samples, whose answers it reads first)."""


def _link(m: Module, shape: LinkShape, divisor: int, rx_line: object, tx_line: object) -> Bridge:
    """UART receiver → byte FIFO → bridge → UART transmitter, in module ``m``."""
    m.submodules.uart_rx = rx = UartRx(divisor)
    m.submodules.uart_tx = tx = UartTx(divisor)
    m.submodules.rx_fifo = fifo = SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH)
    m.submodules.bridge = bridge = Bridge(shape)
    m.d.comb += [rx.rx.eq(rx_line), tx_line.eq(tx.tx)]  # type: ignore[attr-defined]
    wiring.connect(m, rx.data, fifo.w_stream)
    wiring.connect(m, fifo.r_stream, bridge.rx)
    wiring.connect(m, bridge.tx, tx.data)
    return bridge


class BoardTop(Elaboratable):
    """What a board build places: the board's UART pins through the bridge to ``neurocc_network``; with ``pll``,
    everything runs on the PLL's clock (held in reset until the PLL locks) instead of the board's."""

    def __init__(self, shape: LinkShape, divisor: int, pll: Ice40Pll | Ecp5Pll | None = None) -> None:
        self.shape, self.divisor, self.pll = shape, divisor, pll

    def _pll_domain(self, m: Module, platform: object, pll: Ice40Pll | Ecp5Pll) -> None:
        pad = platform.request(platform.default_clk, dir="-")  # type: ignore[attr-defined]
        m.domains.sync = ClockDomain("sync")
        clock, lock = Signal(name="pll_clock"), Signal(name="pll_lock")
        if isinstance(pll, Ice40Pll):  # the PLL takes the clock pin itself
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=pll.divr, p_DIVF=pll.divf, p_DIVQ=pll.divq,
                p_FILTER_RANGE=pll.filter_range, io_PACKAGEPIN=pad.io, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=clock, o_LOCK=lock)
        else:  # the clock pin through an input buffer; CLKOP fed back; no phase shift (CPHASE = DIV − 1); the
            # loop filter's settings Lattice's tools and ecppll write
            m.submodules.clk_pin = pin = io.Buffer("i", pad)
            m.submodules.pll = Instance(
                "EHXPLLL", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_DIV=pll.clkop_div, p_CLKOP_CPHASE=pll.clkop_div - 1, p_CLKOP_FPHASE=0,
                p_CLKFB_DIV=pll.clkfb_div, p_CLKI_DIV=pll.clki_div, p_FEEDBK_PATH="CLKOP",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
                i_CLKI=pin.i, i_CLKFB=clock, i_RST=Const(0), i_STDBY=Const(0), i_PHASESEL0=Const(0),
                i_PHASESEL1=Const(0), i_PHASEDIR=Const(0), i_PHASESTEP=Const(0), i_PHASELOADREG=Const(0),
                i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0), o_CLKOP=clock, o_LOCK=lock)
        m.d.comb += ClockSignal("sync").eq(clock)
        m.submodules.reset = ResetSynchronizer(~lock, domain="sync")
        platform.add_clock_constraint(clock, pll.hz)  # type: ignore[attr-defined]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        if self.pll is not None:
            self._pll_domain(m, platform, self.pll)
        pins = platform.lookup("uart", 0).ios  # type: ignore[attr-defined]  # rx, tx and any others (ULX3S: rts, dtr)
        uart = platform.request("uart", 0, dir={p.name: "-" for p in pins})  # type: ignore[attr-defined]
        m.submodules.rx_pin = rx_pin = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx_pin = io.Buffer("o", uart.tx)
        if ("uart_tx_enable", 0) in platform.resources:  # type: ignore[attr-defined]  # ULX3S gates its driver
            m.submodules.tx_enable = enable = io.Buffer("o", platform.request("uart_tx_enable", 0, dir="-"))  # type: ignore[attr-defined]
            m.d.comb += enable.o.eq(1)
        bridge = _link(m, self.shape, self.divisor, rx_pin.i, tx_pin.o)
        m.submodules.network = network_instance(bridge)
        return m


def network_instance(bridge: Bridge) -> Instance:
    """``neurocc_network`` (the folder's ``network.v``) with its ports on ``bridge``'s."""
    return Instance(
        NETWORK_MODULE, i_clk=ClockSignal(), i_rst=ResetSignal(allow_reset_less=True),
        i_i__payload=bridge.i.payload, i_i__valid=bridge.i.valid, o_i__ready=bridge.i.ready,
        o_o__payload=bridge.o.payload, o_o__valid=bridge.o.valid, i_o__ready=bridge.o.ready,
        i_w_layer=bridge.w_layer, i_w_row=bridge.w_row, i_w_col=bridge.w_col, i_w_data=bridge.w_data,
        i_w_we=bridge.w_we, o_w_rdata=bridge.w_rdata, i_train=bridge.train, o_idle=bridge.idle)


class SerialTop(wiring.Component):
    """A board build's logic with the serial lines as ports (no pins, no board clock): what the Verilator model of
    the host link simulates, ``neurocc_network`` instanced as on the board."""

    def __init__(self, shape: LinkShape, divisor: int) -> None:
        self.shape, self.divisor = shape, divisor
        super().__init__({"rx": wiring.In(1, init=1), "tx": wiring.Out(1, init=1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        bridge = _link(m, self.shape, self.divisor, self.rx, self.tx)
        m.submodules.network = network_instance(bridge)
        return m
