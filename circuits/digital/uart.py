"""An 8N1 UART: one start bit (0), eight data bits least significant first, one stop bit (1), ``divisor`` clock
cycles per bit. Bytes move on ``lib.stream`` ports.

The receiver synchronizes ``rx`` through two flip-flops, waits half a bit after a falling edge to sample the
middle of the start bit (a glitch shorter than that is ignored), then samples every ``divisor`` cycles. A byte
whose stop bit is 0 is dropped (a framing error); so is one the consumer has not taken by the time the next one
completes (the bridge behind it always takes its byte within a cycle, so neither happens with a correct host).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


def _check(divisor: int) -> None:
    if divisor < 4:
        raise ValueError(f"a UART needs at least 4 clock cycles per bit, not {divisor}")


class UartTx(wiring.Component):
    """``data`` in (one byte per transfer), the serial line ``tx`` out (idle high)."""

    def __init__(self, divisor: int) -> None:
        _check(divisor)
        self.divisor = divisor
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        shifter = Signal(10, init=0x3FF)  # stop bit, data, start bit; shifted out from bit 0
        bits_left = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.tx.eq(shifter[0]), self.data.ready.eq(bits_left == 0)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [shifter.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))), bits_left.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits_left != 0):
            with m.If(timer == 0):
                m.d.sync += [shifter.eq(Cat(shifter[1:], Const(1, 1))), bits_left.eq(bits_left - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UartRx(wiring.Component):
    """The serial line ``rx`` in, ``data`` out (one byte per transfer, ``valid`` until taken)."""

    def __init__(self, divisor: int) -> None:
        _check(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8))})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        sync1, line = Signal(init=1), Signal(init=1)
        m.d.sync += [sync1.eq(self.rx), line.eq(sync1)]
        timer = Signal(range(self.divisor))
        shifter = Signal(8)
        bit = Signal(range(10))  # 0: start bit, 1–8: data, 9: stop
        busy = Signal()
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.If(~busy):
            with m.If(~line):
                m.d.sync += [busy.eq(1), bit.eq(0), timer.eq(self.divisor // 2 - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [timer.eq(self.divisor - 1), bit.eq(bit + 1)]
            with m.Switch(bit):
                with m.Case(0):
                    with m.If(line):  # not a start bit after all: a glitch
                        m.d.sync += busy.eq(0)
                with m.Case(9):
                    m.d.sync += busy.eq(0)
                    with m.If(line):
                        m.d.sync += [self.data.payload.eq(shifter), self.data.valid.eq(1)]
                with m.Default():
                    m.d.sync += shifter.eq(Cat(shifter[1:], line))
        return m
