"""A whole fixed-point network in hardware: :class:`DenseUnit` layers in sequence behind ``lib.stream`` ports.

Inputs arrive one integer per transfer on ``i`` into one of two input banks, so the next input streams in while
the current one is computed. The layers run one after another: layer 0 reads its bank, every later layer reads
the previous layer's outputs where they live (``LayerSpec.store``, decided by the ``place-memories`` pass):

- "memory": block RAM, one bank per slot of the writing layer (slot ``q`` writes row ``g · slots + q`` at word
  ``g``), a read port per segment of the reading layer; a read port has the same one-cycle latency as the
  registered multiplexer it replaces, so the cycle counts do not depend on where outputs live;
- "registers": the layer's ``y`` registers, through a registered multiplexer (what a learning engine needs, since
  it reads them all at once).

When the last layer is done its result is handed to the sender in one cycle and leaves on ``o``, one word per
transfer, while the next input is already running: the last layer's block RAM holds two results and the sender
reads the half the layer is not writing, or (registers) the raw accumulators are copied to an output buffer.
In steady state one inference takes ``Σ (groups · L + 5) + 1`` cycles, or the ``n_in`` cycles of streaming an
input in or the ``n_out + 1`` of sending a result out where those are longer (:func:`period`); a bank that fills
at the very cycle the layers finish starts at once.

Layers whose multipliers are "shared" (``LayerSpec.multipliers``, decided by the ``share-multipliers`` pass) take
their forward products from one set of multipliers, one per lane of the widest of them: they run one after
another, so a lane's multiplier serves whichever layer runs (the cycle counts do not change).

Between inferences the weight port writes or reads any weight of any layer. With a learning engine
(:class:`LearnSpec`) and ``train`` high (changed only while ``idle``), every input is followed by its label: the
prediction leaves on ``o`` as usual, then the error path (:mod:`circuits.digital.error_unit`) forms each layer's
update coefficients and every layer rewrites its weights in one read-modify-write pass, all layers at once
(:func:`training_period` cycles per sample). Every number (formats, shifts, widths, lane mapping, where memories
live) comes from the :class:`LayerSpec` list the backend translates from the IR.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from circuits.digital.dense_unit import DenseUnit, LayerSpec
from circuits.digital.error_unit import ErrorUnit, LearnSpec
from circuits.digital.outputs import LayerOutputs

__all__ = ["LayerSpec", "LearnSpec", "Network", "latency", "period", "training_period"]


def _forward(layers: list[LayerSpec]) -> int:
    """Cycles of the layers one after another, and the cycle that hands the result to the sender."""
    return sum(spec.cycles for spec in layers) + 1


def period(layers: list[LayerSpec]) -> int:
    """Cycles from one inference's start to the next when inputs keep up (the initiation interval): the forward
    pass, unless streaming the ``n_in`` input words in or the ``n_out`` results out (and the buffer's hand-over)
    takes longer."""
    return max(_forward(layers), layers[0].n_in, layers[-1].n_out + 1)


def training_period(layers: list[LayerSpec], learn: LearnSpec) -> int:
    """Cycles from one training sample's start to the next when inputs keep up: the forward pass and the
    hand-over to the sender, the error (one cycle), the delta phase (DFA only: one per row of the widest hidden
    layer, and one), the update pulse (one), then every layer's update pass at once (the longest decides);
    unless the ``n_in + 1`` words of a sample (its label last) or its ``n_out`` predictions take longer."""
    compute = _forward(layers) + 2 + learn.delta_cycles + max(s.cycles for s in layers if s.learn)
    return max(compute, layers[0].n_in + 1, layers[-1].n_out + 1)


def latency(layers: list[LayerSpec]) -> int:
    """Cycles of one inference on an idle network: first input accepted to last output sent."""
    return layers[0].n_in + sum(spec.cycles for spec in layers) + 1 + len(layers[-1].weights)


class Network(wiring.Component):
    def __init__(self, layers: list[LayerSpec], learn: LearnSpec | None = None) -> None:
        if not layers:
            raise ValueError("a network needs at least one layer")
        if learn is not None and layers[-1].store != "registers":
            raise ValueError("the last layer's outputs must be in registers: the learning engine reads them all at "
                             "once")
        self.specs, self.learn = layers, learn
        self.units = [DenseUnit(s) for s in layers]
        self.n_in, self.n_out = self.units[0].n_in, self.units[-1].n_out
        w_bits = max(s.w_bits for s in layers)
        super().__init__({
            "i": In(stream.Signature(signed(layers[0].in_bits))),
            "o": Out(stream.Signature(signed(layers[-1].out_bits))),
            # The weight port (served between inferences): layer, row, column; read data two cycles later.
            "w_layer": In(range(max(len(layers), 2))), "w_row": In(range(max(max(u.n_out for u in self.units), 2))),
            "w_col": In(range(max(max(u.n_in for u in self.units), 2))), "w_data": In(signed(w_bits)),
            "w_we": In(1), "w_rdata": Out(signed(w_bits)),
            # Training mode (with a learning engine; ignored without one): each input is followed by its label,
            # and the weights update. ``idle``: nothing received, computing or sending (change ``train`` then).
            "train": In(1), "idle": Out(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        units, n_in, n_out = self.units, self.n_in, self.n_out
        for k, unit in enumerate(units):
            m.submodules[f"layer{k}"] = unit
        self._weight_port(m)

        # Receiver: fill bank `wbank` of the input memory; a full bank waits for the sequencer.
        m.submodules.xmem = xmem = Memory(shape=signed(self.specs[0].in_bits), depth=2 * n_in, init=[])
        full = Array([Signal(name="full0"), Signal(name="full1")])
        wbank, rbank = Signal(), Signal()
        count_in = Signal(range(n_in + 1))
        xw = xmem.write_port()
        taken = self.i.valid & self.i.ready
        m.d.comb += [self.i.ready.eq(~full[wbank]), xw.addr.eq(wbank * n_in + count_in),
                     xw.data.eq(self.i.payload), xw.en.eq(taken & (count_in < n_in))]
        training = Signal()  # with a learning engine, ``train`` makes every input n_in + 1 words: the label last
        labels = Array([Signal(signed(self.specs[0].in_bits), name=f"label{b}") for b in range(2)]) \
            if self.learn is not None else None
        if labels is not None:
            m.d.comb += training.eq(self.train)
            with m.If(taken & (count_in == n_in)):
                m.d.sync += labels[wbank].eq(self.i.payload)
        # ``arriving``: the bank fills at this edge; the sequencer may start on it now rather than a cycle later.
        self._arriving = arriving = Array([Signal(name="arriving0"), Signal(name="arriving1")])
        last_word = taken & (count_in == Mux(training, n_in, n_in - 1))
        m.d.comb += [arriving[0].eq(last_word & (wbank == 0)), arriving[1].eq(last_word & (wbank == 1))]
        with m.If(taken):
            with m.If(last_word):
                m.d.sync += [count_in.eq(0), full[wbank].eq(1), wbank.eq(~wbank)]
            with m.Else():
                m.d.sync += count_in.eq(count_in + 1)

        # Operands: layer 0 from its bank, every later layer from the previous layer's outputs (its registers, or
        # the block RAM banks it wrote).
        first = units[0]
        for s in range(first.spec.segments):
            rp = xmem.read_port(transparent_for=())
            m.d.comb += [rp.addr.eq(rbank * n_in + first.x_addr[s]), first.x_data[s].eq(rp.data)]
        last = units[-1]
        wsel = Signal()  # the half of the last layer's block RAM it writes (the sender reads the other)
        self._outputs = outputs = [LayerOutputs(m, unit, f"ymem{k}") for k, unit in enumerate(units[:-1])]
        outputs.append(LayerOutputs(m, last, "omem", halves=2, half=wsel))
        for k, unit in enumerate(units[1:]):
            for s in range(unit.spec.segments):
                m.d.comb += unit.x_data[s].eq(outputs[k].read(unit.x_addr[s]))

        self._shared_multipliers(m)

        # Sender: the result leaves one word per transfer, from a buffer the next inference does not touch: a copy
        # of the last layer's registers, or the half of its double-buffered block RAM it is not writing.
        ovalid = Signal()
        count_out = Signal(range(max(n_out, 2)))
        transfer = self.o.valid & self.o.ready
        m.d.comb += self.o.valid.eq(ovalid)
        with m.If(transfer):
            with m.If(count_out == n_out - 1):
                m.d.sync += [count_out.eq(0), ovalid.eq(0)]
            with m.Else():
                m.d.sync += count_out.eq(count_out + 1)
        flush = Signal()  # the result is handed to the sender at this edge
        if last.spec.store == "memory":
            osel = Signal()  # the half the sender reads
            with m.If(flush):
                m.d.sync += [osel.eq(wsel), wsel.eq(~wsel)]
            # The read port's address is the sender's next state, so its data is the word due in every cycle.
            after = Mux(transfer, Mux(count_out == n_out - 1, 0, count_out + 1), count_out)
            m.d.comb += self.o.payload.eq(outputs[-1].read(after, half=Mux(flush, wsel, osel)))
        else:
            obuf = [Signal(signed(self.specs[-1].out_bits), name=f"obuf{o}") for o in range(n_out)]
            with m.If(flush):
                m.d.sync += [b.eq(last.y[o]) for o, b in enumerate(obuf)]
            with m.Switch(count_out):
                for o, word in enumerate(obuf):
                    with m.Case(o):
                        m.d.comb += self.o.payload.eq(word)

        # Sequencer: the layers one after another; then hand the result to the sender and take the next bank.
        engine, stepping = None, Signal()  # the learning engine; its delta phase runs
        if self.learn is not None:  # its logic, outside the sequencer's states
            engine = ErrorUnit(m, self.learn, self.units, self._outputs)
            engine.delta_phase(stepping)
            engine.coefficients()
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(full[rbank] | arriving[rbank]):
                    m.d.comb += first.start.eq(1)
                    m.next = "RUN0"
            for k, unit in enumerate(units):
                with m.State(f"RUN{k}"):
                    with m.If(unit.done):
                        if k + 1 < len(units):
                            m.d.comb += units[k + 1].start.eq(1)
                            m.next = f"RUN{k + 1}"
                        else:
                            m.next = "FLUSH"
            with m.State("FLUSH"):
                with m.If(~ovalid):
                    m.d.comb += flush.eq(1)
                    m.d.sync += ovalid.eq(1)
                    if self.learn is None:
                        self._next_input(m, full, rbank)
                    else:
                        with m.If(training):
                            m.next = "ERROR"
                        with m.Else():
                            self._next_input(m, full, rbank)
            if labels is not None:
                assert engine is not None
                self._learning_states(m, engine, stepping, labels[rbank], full, rbank)
        m.d.comb += self.idle.eq(fsm.ongoing("IDLE") & ~full[0] & ~full[1] & ~ovalid & (count_in == 0))
        return m

    def _shared_multipliers(self, m: Module) -> None:
        """One multiplier per lane of the widest "shared" layer (``LayerSpec.multipliers``), as wide as the widest
        operands. The layers run one after another, and a layer's lanes multiply only between its ``start`` and
        its ``done``, so the multipliers take the operands of the layer started last (``mac_layer``)."""
        users = [u for u in self.units if u.spec.multipliers == "shared"]
        if not users:
            return
        mac_layer = Signal(range(max(len(users), 2)))
        for k, unit in enumerate(users):
            with m.If(unit.start):
                m.d.sync += mac_layer.eq(k)
        a_bits, b_bits = max(u.spec.w_bits for u in users), max(u.spec.in_bits for u in users)
        for lane in range(max(u.lanes for u in users)):
            a, b = Signal(signed(a_bits), name=f"mul{lane}_a"), Signal(signed(b_bits), name=f"mul{lane}_b")
            product = Signal(signed(a_bits + b_bits), name=f"mul{lane}_p")
            with m.Switch(mac_layer):
                for k, unit in enumerate(users):
                    if lane < unit.lanes:
                        with m.Case(k):
                            m.d.comb += [a.eq(unit.mul_a[lane]), b.eq(unit.mul_b[lane])]
            m.d.comb += product.eq(a * b)
            m.d.comb += [u.mul_p[lane].eq(product) for u in users if lane < u.lanes]

    def _next_input(self, m: Module, full: Array, rbank: Signal) -> None:
        """Release the bank just used and start on the other one if it is already full."""
        m.d.sync += [full[rbank].eq(0), rbank.eq(~rbank)]
        with m.If(full[~rbank] | self._arriving[~rbank]):
            m.d.comb += self.units[0].start.eq(1)
            m.next = "RUN0"
        with m.Else():
            m.next = "IDLE"

    def _learning_states(self, m: Module, engine: ErrorUnit, stepping: Signal, label: Signal, full: Array,
                         rbank: Signal) -> None:
        """ERROR → DELTA (DFA: one cycle per hidden row, and one) → every layer's update pass at once → the next
        input."""
        learners = [u for u in self.units if u.spec.learn]
        finished = Signal(len(learners))
        with m.State("ERROR"):
            m.d.sync += engine.load(label)
            m.next = "DELTA" if engine.rows else "UPDATE"
        if engine.rows:
            with m.State("DELTA"):
                m.d.comb += stepping.eq(1)
                with m.If(engine.row == engine.rows):
                    m.next = "UPDATE"
        with m.State("UPDATE"):
            m.d.comb += [u.update.eq(1) for u in learners]
            m.d.sync += finished.eq(0)
            m.next = "WAIT"
        with m.State("WAIT"):
            done = Cat(*[u.done for u in learners]) | finished
            m.d.sync += finished.eq(done)
            with m.If(done == (1 << len(learners)) - 1):
                self._next_input(m, full, rbank)

    def _weight_port(self, m: Module) -> None:
        """The weight port's inputs are registered once here (so nothing inside the layers hangs combinationally
        off the pins), each layer's row and column already decoded to its lane and word (the division by a
        segment length that is no power of two is logic: it sits ahead of the register, not in front of the
        memories); read data appears two cycles after the address."""
        layer, wdata, we = Signal.like(self.w_layer), Signal.like(self.w_data), Signal()
        m.d.sync += [layer.eq(self.w_layer), wdata.eq(self.w_data), we.eq(self.w_we)]
        read_layer = Signal.like(self.w_layer)
        m.d.sync += read_layer.eq(layer)
        for k, unit in enumerate(self.units):
            lane, word = unit.weight_address(self.w_row, self.w_col)
            m.d.sync += [unit.w_lane.eq(lane), unit.w_word.eq(word)]
            m.d.comb += [unit.w_data.eq(wdata), unit.w_we.eq(we & (layer == k))]
            with m.If(read_layer == k):
                m.d.comb += self.w_rdata.eq(unit.w_rdata)
