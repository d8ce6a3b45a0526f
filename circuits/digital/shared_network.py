"""A whole fixed-point network on one array of lanes that every layer uses in turn (``LayerSpec.datapath ==
"shared"``, decided by the ``share-datapath`` pass): the small-FPGA datapath.

The layers run one after another, so one set of ``P`` lanes serves them all: lane ``q`` computes the rows
``≡ q (mod slots)`` of every layer (``slots = min(P, n_out)``), each over all of the layer's inputs. A lane is
a weight memory, a multiplier and an accumulator written as ``acc ← data ? acc + w · x : 0`` behind reset-less
operand registers, the shape yosys maps whole into one iCE40 ``SB_MAC16`` (the accumulator and the operand
registers inside the DSP, no logic cells). Lane ``q``'s memory holds, layer after layer and group after group, the
``n_in`` weights of its row: one address counter walks it for the whole network. The input ``x[j]`` is read once
per cycle and goes to every lane.

A group of ``slots`` rows takes ``n_in`` cycles and one more that restarts the accumulators (they load 0 while
the operands are not data); at that cycle the group's sums go into a capture chain of ``P`` registers, and one
requantizer drains them, one per cycle: ``(sum + b') >> shift`` where ``b' = b + 2^(shift−1)`` (the bias and the
rounding's half in one table, read in drain order from one memory), then the activation and the saturation
(:func:`circuits.digital.dense_unit.activate`), into the layer's output memory (block RAM; the last layer's holds
two results so the sender reads one while the next is computed). Where a group would be drained slower than the
next one fills (``slots > n_in + 1``) the next group waits: a group takes ``max(n_in + 1, slots)`` cycles
(:attr:`LayerSpec.group_period`). A layer starts when the one before it has written its last output, so a layer
takes :attr:`LayerSpec.cycles` cycles and an inference ``Σ cycles + 1`` (the hand-over to the sender), like the
per-layer datapath's formula (:func:`circuits.digital.network.period`).

The arithmetic is ``ir.interp_digital``'s: the sums are exact (the accumulators are as wide as the widest
layer's), the bias and the half are added before the shift as the reference adds them, and the activation is the
same clamp or table. Ports, streams and the weight port are the per-layer datapath's
(:func:`circuits.digital.streams.network_ports`), so a host, the bridge and the harnesses cannot tell them apart.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from circuits.digital.dense_unit import activate
from circuits.digital.layer_spec import LayerSpec, times
from circuits.digital.streams import InputBanks, Sender, network_ports

SPRAM_WORD = 16
"""The bits of one iCE40 SPRAM word (SB_SPRAM256KA: 16K words of 16 bits, write enables per 4 bits)."""


def word_offsets(layers: list[LayerSpec]) -> list[int]:
    """Where each layer's words start in a lane's memory (and, past the last, the memory's depth)."""
    offsets = [0]
    for spec in layers:
        offsets.append(offsets[-1] + spec.groups * spec.n_in)
    return offsets


def lane_words(layers: list[LayerSpec], q: int) -> list[int]:
    """Lane ``q``'s memory: for every layer, group ``g`` and input ``j``, ``W[g · slots + q, j]`` (0 for a row past
    the layer's edge, or a lane the layer does not use)."""
    words: list[int] = []
    for spec in layers:
        for g in range(spec.groups):
            o = g * spec.slots + q
            row = spec.weights[o] if q < spec.slots and o < spec.n_out else [0] * spec.n_in
            words.extend(row)
    return words


def half(spec: LayerSpec) -> int:
    """The rounding's half, ``2^(shift−1)`` (0 for a left shift or none)."""
    return 1 << (spec.shift - 1) if spec.shift > 0 else 0


def bias_words(layers: list[LayerSpec]) -> list[int]:
    """The drain's table, in drain order: for every layer, group and slot, ``b + 2^(shift−1)`` (0 past the edge)."""
    words: list[int] = []
    for spec in layers:
        for o in range(spec.groups * spec.slots):
            words.append(spec.bias[o] + half(spec) if o < spec.n_out else 0)
    return words


def bias_bits(layers: list[LayerSpec]) -> int:
    """The width of the drain's table."""
    return max(2, *(max(v, -v - 1).bit_length() + 1 for v in bias_words(layers)))


def spram_packing(layers: list[LayerSpec]) -> tuple[int, int]:
    """SPRAM weights: the bits of a lane's slot in a 16-bit word (the weight width rounded up to the SPRAM's
    4-bit write enables) and the lanes one word holds."""
    slot = -(-max(s.w_bits for s in layers) // 4) * 4
    return slot, SPRAM_WORD // slot


def _pick(m: Module, index: Value, values: list[int], name: str) -> Signal:
    """``values[index]`` (constants, one per layer) as a signal."""
    out = Signal(range(min(min(values), 0), max(max(values), 1) + 1), name=name)
    with m.Switch(index):
        for k, v in enumerate(values):
            with m.Case(k):
                m.d.comb += out.eq(v)
    return out


class SharedNetwork(wiring.Component):
    def __init__(self, layers: list[LayerSpec]) -> None:
        if not layers:
            raise ValueError("a network needs at least one layer")
        for k, spec in enumerate(layers):
            if spec.datapath != "shared" or spec.segments != 1 or spec.learn:
                raise ValueError(f"layer {k} is not mapped for the shared datapath: it needs datapath 'shared', one "
                                 f"segment and no learning engine, not {spec.datapath!r}, {spec.segments}, "
                                 f"{spec.learn!r}")
        self.specs, self.learn = layers, None
        self.lanes = max(s.slots for s in layers)
        for k, spec in enumerate(layers):
            if spec.slots != min(self.lanes, spec.n_out):
                raise ValueError(f"layer {k} must use min(lanes, outputs) = {min(self.lanes, spec.n_out)} slots, "
                                 f"not {spec.slots}")
        self.n_in, self.n_out = layers[0].n_in, layers[-1].n_out
        self.spram = layers[0].weight_store == "spram"
        if self.spram and max(s.w_bits for s in layers) > SPRAM_WORD:
            raise ValueError(f"weights in SPRAM are at most {SPRAM_WORD} bits wide")
        groups = -(-self.lanes // spram_packing(layers)[1]) if self.spram else 0
        self.uninitialised = tuple(f"spram{k}" for k in range(groups))
        """Memories the bitstream leaves uninitialised (the host loads them through the weight port)."""
        super().__init__(network_ports(layers))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        specs, lanes, count = self.specs, self.lanes, len(self.specs)
        offsets = word_offsets(specs)
        banks = InputBanks(m, self.i, self.n_in, specs[0].in_bits)
        sender = Sender(m, self.o, self.n_out)

        # Issue: layer `layer`, group `g`, cycle `t` of the group (an input while t < n_in); `waddr` walks the
        # lanes' memories for the whole network.
        layer = Signal(range(max(count, 2)))
        g = Signal(range(max(max(s.groups for s in specs), 2)))
        t = Signal(range(max(max(s.group_period for s in specs), 2)))
        waddr = Signal(range(max(offsets[-1], 2)))
        running = Signal()  # the sequencer is issuing a layer's inputs
        n_in = _pick(m, layer, [s.n_in for s in specs], "issue_n_in")
        data = running & (t < n_in)
        end = data & (t == n_in - 1)  # a group's last input
        last_group = g == _pick(m, layer, [s.groups - 1 for s in specs], "issue_last_group")
        with m.If(running):
            with m.If(t == _pick(m, layer, [s.group_period - 1 for s in specs], "issue_last_t")):
                m.d.sync += [t.eq(0), g.eq(g + 1)]
            with m.Else():
                m.d.sync += t.eq(t + 1)
            with m.If(data):
                m.d.sync += waddr.eq(waddr + 1)

        # Operands (stage M, one cycle after the addresses): layer 0's input from its bank, a later layer's from
        # the output memory of the layer before it; every lane's weight from its own memory.
        outputs = [Memory(shape=signed(s.out_bits), depth=(2 if k == count - 1 else 1) * s.n_out, init=[],
                          attrs={"ram_style": "block"}) for k, s in enumerate(specs)]
        for k, mem in enumerate(outputs):
            m.submodules[f"ymem{k}" if k < count - 1 else "omem"] = mem
        reads = [banks.read(t)]
        for k in range(1, count):
            rp = outputs[k - 1].read_port(transparent_for=())
            m.d.comb += rp.addr.eq(t)
            reads.append(rp.data)
        stage_m = Signal(range(max(count, 2)), name="layer_m")
        data_m, end_m, last_m, first_m = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [stage_m.eq(layer), data_m.eq(data), end_m.eq(end), last_m.eq(last_group), first_m.eq(g == 0)]
        x_bits = max(s.in_bits for s in specs)
        x = Signal(signed(x_bits))
        with m.Switch(stage_m):
            for k, read in enumerate(reads):
                with m.Case(k):
                    m.d.comb += x.eq(read)

        # The lanes (stage A): operand registers, then the accumulator; both reset-less, so yosys puts them in the
        # DSP (SB_MAC16: A/B registers, accumulator).
        quiet = Signal()  # no inference under way: the weight port may write
        w_port = self._weight_port(m, offsets, running, waddr, quiet)
        acc_bits = max(s.acc_bits for s in specs)
        data_a, end_a, last_a, first_a = Signal(), Signal(), Signal(), Signal()
        stage_a = Signal.like(stage_m, name="layer_a")
        m.d.sync += [data_a.eq(data_m), end_a.eq(end_m), last_a.eq(last_m), first_a.eq(first_m), stage_a.eq(stage_m)]
        accs = []
        for q, weight in enumerate(w_port):
            a = Signal(signed(len(weight)), name=f"lane{q}_w", reset_less=True)
            b = Signal(signed(x_bits), name=f"lane{q}_x", reset_less=True)
            acc = Signal(signed(acc_bits), name=f"lane{q}_acc", reset_less=True)
            m.d.sync += [a.eq(weight), b.eq(x), acc.eq(Mux(data_a, acc + a * b, 0))]
            accs.append(acc)

        # Capture (stage C, the cycle after a group's last product went in), then the drain: one sum a cycle
        # through the bias table into the requantizer.
        capture, cap_last, cap_first = Signal(), Signal(), Signal()
        cap_layer = Signal.like(stage_m, name="layer_c")
        m.d.sync += [capture.eq(end_a), cap_last.eq(last_a), cap_first.eq(first_a), cap_layer.eq(stage_a)]
        chain = [Signal(signed(acc_bits), name=f"sum{q}") for q in range(lanes)]
        draining, d = Signal(), Signal(range(max(lanes, 2)))
        drain_layer = Signal.like(stage_m, name="layer_d")
        drain_last = Signal()  # the group draining is its layer's last
        row = Signal(range(max(max(s.groups * s.slots for s in specs), 2)))  # the row draining, in its layer
        table = bias_words(specs)
        brow = Signal(range(len(table) + 1))  # the next row's place in the bias table (read a cycle ahead)
        last_d = d == _pick(m, drain_layer, [s.slots - 1 for s in specs], "drain_last_slot")
        with m.If(draining):
            m.d.sync += [chain[q].eq(chain[q + 1]) for q in range(lanes - 1)]
            m.d.sync += d.eq(d + 1)
            with m.If(last_d):
                m.d.sync += draining.eq(0)
        m.d.sync += row.eq(Mux(capture & cap_first, 0, row + draining))
        restart = Signal()  # an inference starts: the table from its first row
        m.d.sync += brow.eq(Mux(restart, 0, brow + (capture | (draining & ~last_d))))
        with m.If(capture):  # after the drain's updates: a capture in the drain's last cycle wins
            m.d.sync += [chain[q].eq(acc) for q, acc in enumerate(accs)]
            m.d.sync += [draining.eq(1), d.eq(0), drain_layer.eq(cap_layer), drain_last.eq(cap_last)]
        style = "block" if specs[0].bias_store == "memory" else "logic"
        m.submodules.bias = bias = Memory(shape=signed(bias_bits(specs)), depth=len(table), init=table,
                                          attrs={"ram_style": style})
        bp = bias.read_port(transparent_for=())
        m.d.comb += bp.addr.eq(brow)
        total = Signal(signed(max(acc_bits, len(bp.data)) + 1), name="drain_sum")
        valid, out_row, out_last = Signal(), Signal.like(row), Signal()
        out_layer = Signal.like(stage_m, name="layer_out")
        m.d.sync += [total.eq(chain[0] + bp.data), valid.eq(draining), out_row.eq(row), out_layer.eq(drain_layer),
                     out_last.eq(draining & drain_last & last_d)]

        # Requantize into the layer's output memory (the last layer's: the half the sender is not reading).
        wsel, osel, flush = Signal(), Signal(), Signal()
        for k, (spec, mem) in enumerate(zip(specs, outputs, strict=True)):
            shifted = total >> spec.shift if spec.shift > 0 else total << -spec.shift
            if spec.fn == "identity" and not spec.table and spec.shift >= 0 and spec.out_bits >= spec.acc_bits:
                value: Value = shifted  # the sum fits acc_bits: the saturation cannot act
            else:
                value = activate(m, shifted, spec, f"rq{k}")
            wp = mem.write_port()
            base = wsel * spec.n_out if k == count - 1 else 0
            m.d.comb += [wp.addr.eq(base + out_row), wp.data.eq(value),
                         wp.en.eq(valid & (out_layer == k) & (out_row < spec.n_out))]
        with m.If(flush):
            m.d.sync += [osel.eq(wsel), wsel.eq(~wsel)]
        rp = outputs[-1].read_port(transparent_for=())
        m.d.comb += [rp.addr.eq(Mux(flush, wsel, osel) * self.n_out + sender.after), self.o.payload.eq(rp.data)]

        # Sequencer: each layer's groups, then wait until its last output is written; then the next layer, or hand
        # the result to the sender and take the next bank.
        def start(first: bool) -> None:
            m.d.sync += [t.eq(0), g.eq(0), layer.eq(0 if first else layer + 1)]
            if first:
                m.d.sync += waddr.eq(0)
                m.d.comb += restart.eq(1)
            m.next = "RUN"

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(banks.ready):
                    start(True)
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(end & last_group):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(out_last):
                    with m.If(layer == count - 1):
                        m.next = "FLUSH"
                    with m.Else():
                        start(False)
            with m.State("FLUSH"):
                with m.If(~sender.busy):
                    m.d.comb += flush.eq(1)
                    sender.hand_over()
                    with m.If(banks.release()):
                        start(True)
                    with m.Else():
                        m.next = "IDLE"
        m.d.comb += [quiet.eq(fsm.ongoing("IDLE")), self.idle.eq(quiet & banks.empty & ~sender.busy)]
        return m

    def _weight_port(self, m: Module, offsets: list[int], running: Value, waddr: Value, quiet: Value) -> list[Value]:
        """The lanes' weight memories (each lane's read data, one cycle after ``waddr``) and the weight port: its
        inputs registered once, the row and column decoded ahead of the register to lane ``row mod slots`` and
        word ``offset + (row // slots) · n_in + col`` of the layer; written only while the sequencer is idle,
        read back two cycles after the address (the memories' read ports take the port's word then)."""
        specs = self.specs
        w_bits = max(s.w_bits for s in specs)
        lane, word = Signal(range(max(self.lanes, 2))), Signal(range(max(offsets[-1], 2)))
        wlayer, wdata, we = Signal.like(self.w_layer), Signal.like(self.w_data), Signal()
        m.d.sync += [wlayer.eq(self.w_layer), wdata.eq(self.w_data), we.eq(self.w_we)]
        with m.Switch(self.w_layer):
            for k, spec in enumerate(specs):
                with m.Case(k):
                    m.d.sync += [lane.eq(self.w_row % spec.slots),
                                 word.eq(offsets[k] + times(self.w_row // spec.slots, spec.n_in) + self.w_col)]
        written = Signal(signed(w_bits))  # the port's word, as wide as the layer's weights (sign-extended)
        with m.Switch(wlayer):
            for k, spec in enumerate(specs):
                with m.Case(k):
                    m.d.comb += written.eq(wdata[:spec.w_bits].as_signed())
        read_lane = Signal.like(lane)
        m.d.sync += read_lane.eq(lane)
        address = Mux(running, waddr, word)
        if self.spram:
            data = self._spram_lanes(m, offsets[-1], address, lane, written, we & quiet)
        else:
            data = []
            for q in range(self.lanes):
                mem = Memory(shape=signed(w_bits), depth=max(offsets[-1], 1), init=lane_words(specs, q))
                m.submodules[f"wmem{q}"] = mem
                rp, wp = mem.read_port(transparent_for=()), mem.write_port()
                m.d.comb += [rp.addr.eq(address), wp.addr.eq(word), wp.data.eq(written),
                             wp.en.eq(we & (lane == q) & quiet)]
                data.append(rp.data)
        m.d.comb += self.w_rdata.eq(Array(data)[read_lane] if len(data) > 1 else data[0])
        return data

    def _spram_lanes(self, m: Module, depth: int, address: Value, lane: Value, written: Value,
                     write: Value) -> list[Value]:
        """The lanes' weights in single-port memories of 16-bit words that yosys maps to the iCE40's SPRAM
        (``ram_style = "huge"``; no initial values: the host writes every weight): lane ``q`` in slot ``q mod
        pack`` of memory ``q // pack``, one address for reading and writing, and the read port disabled while
        a word is written (the SPRAM's read data holds then)."""
        w_bits = max(s.w_bits for s in self.specs)
        slot, pack = spram_packing(self.specs)
        data: list[Value] = []
        for k in range(-(-self.lanes // pack)):
            mem = Memory(shape=SPRAM_WORD, depth=max(depth, 1), init=[], attrs={"ram_style": "huge"})
            m.submodules[f"spram{k}"] = mem
            wp = mem.write_port(granularity=slot if pack > 1 else None)
            rp = mem.read_port(transparent_for=())
            enables = [write & (lane == k * pack + j) for j in range(pack)]
            word = Cat(written[:w_bits], Const(0, slot - w_bits))  # the weight in a slot; every slot gets it
            m.d.comb += [wp.addr.eq(address), rp.addr.eq(address), rp.en.eq(~Cat(*enables).any()),
                         wp.data.eq(Cat(*[word] * pack)), wp.en.eq(Cat(*enables))]
            data.extend(rp.data[j * slot: j * slot + w_bits].as_signed()
                        for j in range(pack) if k * pack + j < self.lanes)
        return data
