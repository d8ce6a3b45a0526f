"""A whole fixed-point network in hardware: :class:`DenseUnit` layers in sequence behind ``lib.stream`` ports.

Inputs arrive one integer per transfer on ``i`` (``in_features`` of them per inference); each layer runs when the
one before has finished, its outputs copied into the next layer's input memory one per cycle; the last layer's
raw accumulators leave on ``o``, one per transfer. Between inferences the weight port writes or reads any weight
of any layer (the on-chip learning engines will use it). Every number (formats, shifts, widths) comes from the
:class:`LayerSpec` list the backend translates from the IR.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from circuits.digital.dense_unit import DenseUnit


@dataclass(frozen=True)
class LayerSpec:
    weights: list[list[int]]
    bias: list[int]
    in_bits: int
    w_bits: int
    acc_bits: int
    shift: int
    fn: str
    out_bits: int
    out_frac: int


class Network(wiring.Component):
    def __init__(self, layers: list[LayerSpec], lanes: int) -> None:
        if not layers:
            raise ValueError("a network needs at least one layer")
        self.specs = layers
        self.units = [DenseUnit(s.weights, s.bias, in_bits=s.in_bits, w_bits=s.w_bits, acc_bits=s.acc_bits,
                                shift=s.shift, fn=s.fn, out_bits=s.out_bits, out_frac=s.out_frac, lanes=lanes)
                      for s in layers]
        self.n_in, self.n_out = self.units[0].n_in, self.units[-1].n_out
        w_bits = max(s.w_bits for s in layers)
        super().__init__({
            "i": In(stream.Signature(signed(layers[0].in_bits))),
            "o": Out(stream.Signature(signed(layers[-1].out_bits))),
            # The weight port (served between inferences): layer, row, column; read data one cycle later.
            "w_layer": In(range(max(len(layers), 2))), "w_row": In(range(max(max(u.n_out for u in self.units), 2))),
            "w_col": In(range(max(max(u.n_in for u in self.units), 2))), "w_data": In(signed(w_bits)),
            "w_we": In(1), "w_rdata": Out(signed(w_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        units = self.units
        for k, unit in enumerate(units):
            m.submodules[f"layer{k}"] = unit
        read_layer = Signal.like(self.w_layer)
        m.d.sync += read_layer.eq(self.w_layer)
        for k, unit in enumerate(units):
            m.d.comb += [unit.w_row.eq(self.w_row), unit.w_col.eq(self.w_col), unit.w_data.eq(self.w_data),
                         unit.w_we.eq(self.w_we & (self.w_layer == k))]
            with m.If(read_layer == k):
                m.d.comb += self.w_rdata.eq(unit.w_rdata)
        count = Signal(range(max(max(u.n_in for u in units), self.n_out) + 1))
        first, last = units[0], units[-1]
        with m.FSM():
            with m.State("RECEIVE"):
                m.d.comb += [self.i.ready.eq(1), first.x_addr.eq(count), first.x_data.eq(self.i.payload),
                             first.x_we.eq(self.i.valid)]
                with m.If(self.i.valid):
                    with m.If(count == self.n_in - 1):
                        m.d.sync += count.eq(0)
                        m.d.comb += first.start.eq(1)
                        m.next = "RUN0"
                    with m.Else():
                        m.d.sync += count.eq(count + 1)
            for k, unit in enumerate(units):
                with m.State(f"RUN{k}"):
                    # start was pulsed on entry; done rises once the layer's outputs are ready
                    with m.If(unit.done & ~unit.start):
                        m.next = "SEND" if k == len(units) - 1 else f"COPY{k}"
                if k < len(units) - 1:
                    nxt = units[k + 1]
                    with m.State(f"COPY{k}"):
                        m.d.comb += [unit.y_addr.eq(count), nxt.x_addr.eq(count), nxt.x_data.eq(unit.y_data),
                                     nxt.x_we.eq(1)]
                        with m.If(count == unit.n_out - 1):
                            m.d.sync += count.eq(0)
                            m.d.comb += nxt.start.eq(1)
                            m.next = f"RUN{k + 1}"
                        with m.Else():
                            m.d.sync += count.eq(count + 1)
            with m.State("SEND"):
                m.d.comb += [last.y_addr.eq(count), self.o.payload.eq(last.y_data), self.o.valid.eq(1)]
                with m.If(self.o.ready):
                    with m.If(count == self.n_out - 1):
                        m.d.sync += count.eq(0)
                        m.next = "RECEIVE"
                    with m.Else():
                        m.d.sync += count.eq(count + 1)
        return m
