"""The network's two stream ports as plain helpers that add their logic to the network's module: the receiver
(:class:`InputBanks`, inputs into a double-buffered memory) and the sender's handshake (:class:`Sender`). Both
datapaths (:mod:`circuits.digital.network`, :mod:`circuits.digital.shared_network`) use them, so a host sees the
same ports and the same timing from either.
"""

from __future__ import annotations

from typing import Any

from amaranth import Array, Module, Mux, Signal, Value, signed
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from circuits.digital.layer_spec import LayerSpec


def network_ports(layers: list[LayerSpec]) -> dict[str, Any]:
    """The ports of a whole network, whichever datapath computes it: the input and output streams, the weight port
    (served between inferences: layer, row, column, a learned bias at column ``n_in``; read data two cycles
    later), and training mode (with a learning engine; ignored without one: each input is followed by its label,
    and the weights update). ``idle``: nothing received, computing or sending (change ``train`` then)."""
    return {
        "i": In(stream.Signature(signed(layers[0].in_bits))),
        "o": Out(stream.Signature(signed(layers[-1].out_bits))),
        "w_layer": In(range(max(len(layers), 2))), "w_row": In(range(max(max(s.n_out for s in layers), 2))),
        "w_col": In(range(max(max(s.columns for s in layers), 2))), "w_data": In(signed(max(s.w_bits for s in layers))),
        "w_we": In(1), "w_rdata": Out(signed(max(s.w_bits for s in layers))),
        "train": In(1), "idle": Out(1),
    }


class InputBanks:
    """Inputs arrive one integer per transfer on ``i`` into bank ``wbank`` of a two-bank memory (``2 · n_in``
    words); a full bank waits for the sequencer, which computes from bank ``rbank``. With ``training`` high every
    input is ``n_in + 1`` words, its label last (kept in a register per bank). ``ready`` is high when bank
    ``rbank`` is full or fills at this edge (the sequencer may start on it now rather than a cycle later)."""

    def __init__(self, m: Module, i: object, n_in: int, in_bits: int, training: Value | None = None) -> None:
        self.m, self.n_in = m, n_in
        m.submodules.xmem = self.mem = Memory(shape=signed(in_bits), depth=2 * n_in, init=[])
        self.full = Array([Signal(name="full0"), Signal(name="full1")])
        self.wbank, self.rbank = Signal(), Signal()
        self.count_in = count_in = Signal(range(n_in + 1))
        full, wbank = self.full, self.wbank
        xw = self.mem.write_port()
        taken = i.valid & i.ready  # type: ignore[attr-defined]
        m.d.comb += [i.ready.eq(~full[wbank]), xw.addr.eq(wbank * n_in + count_in),  # type: ignore[attr-defined]
                     xw.data.eq(i.payload), xw.en.eq(taken & (count_in < n_in))]  # type: ignore[attr-defined]
        self.label: Value | None = None
        last_count: Value = Mux(training, n_in, n_in - 1) if training is not None else n_in - 1
        if training is not None:
            labels = Array([Signal(signed(in_bits), name=f"label{b}") for b in range(2)])
            with m.If(taken & (count_in == n_in)):
                m.d.sync += labels[wbank].eq(i.payload)  # type: ignore[attr-defined]
            self.label = labels[self.rbank]
        self.arriving = arriving = Array([Signal(name="arriving0"), Signal(name="arriving1")])
        last_word = taken & (count_in == last_count)
        m.d.comb += [arriving[0].eq(last_word & (wbank == 0)), arriving[1].eq(last_word & (wbank == 1))]
        with m.If(taken):
            with m.If(last_word):
                m.d.sync += [count_in.eq(0), full[wbank].eq(1), wbank.eq(~wbank)]
            with m.Else():
                m.d.sync += count_in.eq(count_in + 1)
        self.ready = full[self.rbank] | arriving[self.rbank]
        self.empty = ~full[0] & ~full[1] & (count_in == 0)

    def read(self, addr: Value) -> Value:
        """Word ``addr`` of bank ``rbank``, one cycle after the address (a read port of its own)."""
        rp = self.mem.read_port(transparent_for=())
        self.m.d.comb += rp.addr.eq(self.rbank * self.n_in + addr)
        return rp.data

    def release(self) -> Value:
        """Free bank ``rbank`` and make the other one current (at this edge); the value says whether that one is
        already full (or fills now), so the sequencer can start on it at once."""
        full, rbank = self.full, self.rbank
        self.m.d.sync += [full[rbank].eq(0), rbank.eq(~rbank)]
        return full[~rbank] | self.arriving[~rbank]


class Sender:
    """The output stream's handshake: a result of ``n_out`` words leaves one per transfer once handed over
    (:meth:`hand_over`, while ``busy`` is low). ``count`` is the word leaving now, ``after`` the one due in the
    next cycle (the address a read port with one cycle of latency needs)."""

    def __init__(self, m: Module, o: object, n_out: int) -> None:
        self.m = m
        self.busy = Signal(name="ovalid")
        self.count = count = Signal(range(max(n_out, 2)), name="count_out")
        transfer = o.valid & o.ready  # type: ignore[attr-defined]
        m.d.comb += o.valid.eq(self.busy)  # type: ignore[attr-defined]
        with m.If(transfer):
            with m.If(count == n_out - 1):
                m.d.sync += [count.eq(0), self.busy.eq(0)]
            with m.Else():
                m.d.sync += count.eq(count + 1)
        self.after = Mux(transfer, Mux(count == n_out - 1, 0, count + 1), count)

    def hand_over(self) -> None:
        self.m.d.sync += self.busy.eq(1)
