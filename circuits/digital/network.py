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
(:func:`training_period` cycles per sample). PEPITA adds its second pass between the error and the update: the
input's modulation, then a perturbation pass of each hidden layer in turn (:mod:`circuits.digital.error_unit`).
Every number (formats, shifts, widths, lane mapping, where memories live) comes from the :class:`LayerSpec` list
the backend translates from the IR.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import wiring

from circuits.digital.competition import Winner
from circuits.digital.dense_unit import DenseUnit
from circuits.digital.error_unit import ErrorUnit, LearnSpec, backward_cycles
from circuits.digital.goodness import Goodness
from circuits.digital.layer_spec import LayerSpec
from circuits.digital.outputs import LayerOutputs
from circuits.digital.streams import InputBanks, Sender, network_ports

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
    hand-over to the sender, the error (one cycle), the delta phase (DFA, and FA's last hidden layer: one per row
    of the widest layer it serves, and one; PEPITA: one per input, and two), FA's backward phases
    (:func:`backward_cycles` each), PEPITA's perturbation passes (a hidden layer's forward cycles each), the update
    pulse (one), then every layer's update pass at once (the longest decides); unless the ``n_in + 1`` words of a
    sample (its label last) or its ``n_out`` predictions take longer."""
    back = sum(backward_cycles(layers[k].slots, layers[k].groups, layers[k + 1].n_out)
               for k in learn.backward_layers())
    if learn.forward_forward:  # the readout's update, then two passes through the hidden layers, each measured,
        #                        weighed, written and learned from
        hidden = layers[:-1]
        rows = max(s.n_out for s in hidden) + 1
        passes = 2 * (sum(s.cycles for s in hidden) + 2 * rows + 2 + max(s.cycles for s in hidden))
        compute = _forward(layers) + 1 + max(layers[-1].cycles, layers[-1].n_out + 2) + passes
        return max(compute, layers[0].n_in + 1, layers[-1].n_out + 1)
    back += sum(s.cycles for s in layers[:-1]) if learn.perturbs else 0  # PEPITA's perturbation passes
    compute = _forward(layers) + 2 + learn.delta_cycles + back + max(s.cycles for s in layers if s.learn)
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
        super().__init__(network_ports(layers))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        units, n_in, n_out = self.units, self.n_in, self.n_out
        for k, unit in enumerate(units):
            m.submodules[f"layer{k}"] = unit
        self._weight_port(m)

        # Receiver: fill bank `wbank` of the input memory; a full bank waits for the sequencer. With a learning
        # engine, ``train`` makes every input n_in + 1 words: the label last.
        banks = InputBanks(m, self.i, n_in, self.specs[0].in_bits, self.train if self.learn is not None else None)
        self._banks = banks

        # Operands: layer 0 from its bank, every later layer from the previous layer's outputs (its registers, or
        # the block RAM banks it wrote).
        first = units[0]
        for s in range(first.spec.segments):
            m.d.comb += first.x_data[s].eq(banks.read(first.x_addr[s]))
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
        sender = Sender(m, self.o, n_out)
        ovalid = sender.busy
        flush = Signal()  # the result is handed to the sender at this edge
        if last.spec.store == "memory":
            osel = Signal()  # the half the sender reads
            with m.If(flush):
                m.d.sync += [osel.eq(wsel), wsel.eq(~wsel)]
            # The read port's address is the sender's next state, so its data is the word due in every cycle.
            m.d.comb += self.o.payload.eq(outputs[-1].read(sender.after, half=Mux(flush, wsel, osel)))
        else:
            obuf = [Signal(signed(self.specs[-1].out_bits), name=f"obuf{o}") for o in range(n_out)]
            with m.If(flush):
                m.d.sync += [b.eq(last.y[o]) for o, b in enumerate(obuf)]
            with m.Switch(sender.count):
                for o, word in enumerate(obuf):
                    with m.Case(o):
                        m.d.comb += self.o.payload.eq(word)

        # Sequencer: the layers one after another; then hand the result to the sender and take the next bank.
        engine, stepping = None, Signal()  # the learning engine; its delta phase runs
        goodness: Goodness | None = None  # forward-forward's
        backward: list[tuple[int, Signal, Value]] = []  # FA's backward phases: layer, running, its last cycle
        if self.learn is not None:  # its logic, outside the sequencer's states
            engine = ErrorUnit(m, self.learn, self.units, self._outputs)
            engine.delta_phase(stepping)
            for k in self.learn.backward_layers():
                running = Signal(name=f"back{k}_running")
                backward.append((k, running, engine.backward(k, running)))
            if self.learn.perturbs:
                self._perturbation(m, engine, stepping)
            if self.learn.forward_forward:
                assert banks.label is not None
                goodness = Goodness(m, self.learn, engine, self.units, self._outputs, banks.label)
                m.d.comb += [units[0].label_on.eq(goodness.label_on), units[0].label.eq(goodness.label)]
            engine.coefficients()
            for k, unit in enumerate(units):
                if unit.spec.learn == "hebbian":
                    Winner(m, unit, f"winner{k}")
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(banks.ready):
                    m.d.comb += first.start.eq(1)
                    m.next = "RUN0"
            self._layer_states(m, units, "RUN", "FLUSH")
            with m.State("FLUSH"):
                with m.If(~ovalid):
                    m.d.comb += flush.eq(1)
                    sender.hand_over()
                    if self.learn is None:
                        self._next_input(m)
                    else:
                        with m.If(self.train):
                            m.next = "ERROR"
                        with m.Else():
                            self._next_input(m)
            if banks.label is not None and goodness is not None:
                assert engine is not None
                self._forward_forward_states(m, engine, goodness, banks.label)
            elif banks.label is not None:
                assert engine is not None
                self._learning_states(m, engine, stepping, banks.label, backward)
        m.d.comb += self.idle.eq(fsm.ongoing("IDLE") & banks.empty & ~ovalid)
        return m

    def _perturbation(self, m: Module, engine: ErrorUnit, stepping: Signal) -> None:
        """PEPITA: the delta phase writes the input's modulation; a hidden layer's perturbation pass reads it (the
        first) or the previous layer's results (in its delta memory) instead of its inputs, and writes its own."""
        first = self.units[0]
        modulation = engine.modulation_phase(stepping, first.spec.in_bits)
        hidden = range(len(self.units) - 1)
        for k in hidden:
            engine.perturbation(k)
        for k in hidden:
            unit = self.units[k]
            for s in range(unit.spec.segments):
                if k == 0:
                    rp = modulation.read_port(transparent_for=())
                    m.d.comb += rp.addr.eq(unit.x_addr[s])
                    value: Value = rp.data
                else:
                    value = engine.perturbation_input(k - 1, unit.x_addr[s])
                with m.If(unit.perturbing):
                    m.d.comb += unit.x_data[s].eq(value)

    def _shared_multipliers(self, m: Module) -> None:
        """One multiplier per lane of the widest "shared" layer (``LayerSpec.multipliers``), as wide as the widest
        operands. The layers run one after another, and a layer's lanes multiply only between its ``start`` and
        its ``done``, so the multipliers take the operands of the layer started last (``mac_layer``)."""
        users = [u for u in self.units if u.spec.multipliers == "shared"]
        if not users:
            return
        mac_layer = Signal(range(max(len(users), 2)))
        for k, unit in enumerate(users):
            with m.If(unit.start | unit.perturb if unit.spec.perturbs else unit.start):  # (perturbation passes too)
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

    @staticmethod
    def _layer_states(m: Module, units: list[DenseUnit], prefix: str, after: str) -> None:
        """States ``prefix0 …``: ``units`` one after another (each started as the one before it is done; the first
        by whoever enters ``prefix0``), then state ``after``."""
        for k, unit in enumerate(units):
            with m.State(f"{prefix}{k}"):
                with m.If(unit.done):
                    if k + 1 < len(units):
                        m.d.comb += units[k + 1].start.eq(1)
                        m.next = f"{prefix}{k + 1}"
                    else:
                        m.next = after

    def _next_input(self, m: Module) -> None:
        """Release the bank just used and start on the other one if it is already full."""
        with m.If(self._banks.release()):
            m.d.comb += self.units[0].start.eq(1)
            m.next = "RUN0"
        with m.Else():
            m.next = "IDLE"

    def _learning_states(self, m: Module, engine: ErrorUnit, stepping: Signal, label: Value,
                         backward: list[tuple[int, Signal, Value]]) -> None:
        """ERROR → DELTA (DFA, FA's last hidden layer: one cycle per row, and one; PEPITA's modulation: one per
        input, and two) → FA's backward phases, one layer after another → PEPITA's perturbation passes, first
        layer first → every layer's update pass at once → the next input."""
        learners = [u for u in self.units if u.spec.learn]
        finished = Signal(len(learners))
        perturbed = range(len(self.units) - 1) if engine.spec.perturbs else range(0)
        phases = [*(["DELTA"] if engine.rows else []), *(f"BACK{k}" for k, _, _ in backward),
                  *(f"PERTURB{k}" for k in perturbed), "UPDATE"]

        def after(phase: str) -> None:
            """Go on to the phase after ``phase`` (starting a perturbation pass on the way)."""
            following = phases[phases.index(phase) + 1]
            if following.startswith("PERTURB"):
                m.d.comb += self.units[int(following[len("PERTURB"):])].perturb.eq(1)
            m.next = following

        with m.State("ERROR"):
            m.d.sync += engine.load(label)
            m.next = phases[0]
        if engine.rows:
            with m.State("DELTA"):
                m.d.comb += stepping.eq(1)
                with m.If(engine.row == engine.rows):
                    after("DELTA")
        for k, running, last in backward:
            with m.State(f"BACK{k}"):
                m.d.comb += running.eq(1)
                with m.If(last):
                    after(f"BACK{k}")
        for k in perturbed:  # PEPITA: the second pass, as its difference from the first, one layer after another
            with m.State(f"PERTURB{k}"):
                with m.If(self.units[k].done):
                    after(f"PERTURB{k}")
        with m.State("UPDATE"):
            m.d.comb += [u.update.eq(1) for u in learners]
            m.d.sync += finished.eq(0)
            m.next = "WAIT"
        with m.State("WAIT"):
            done = Cat(*[u.done for u in learners]) | finished
            m.d.sync += finished.eq(done)
            with m.If(done == (1 << len(learners)) - 1):
                self._next_input(m)

    def _forward_forward_states(self, m: Module, engine: ErrorUnit, goodness: Goodness, label: Value) -> None:
        """ERROR → the readout's update pass (and the scan for the wrong label) → for the positive, then the
        negative pass: the hidden layers with the label (one after another) → MEASURE → INDEX → WEIGH → WRITE →
        every hidden layer's update pass at once; then the next input."""
        units, hidden = self.units, self.units[:-1]
        finished = Signal(len(hidden))
        read_out = Signal()  # the readout's update pass is done
        with m.State("ERROR"):
            m.d.sync += [*engine.load(label), *goodness.scan_start, read_out.eq(0)]
            m.d.comb += units[-1].update.eq(1)
            m.next = "READOUT"
        with m.State("READOUT"):  # the readout updates; meanwhile the wrong label is found
            with m.If(units[-1].done):
                m.d.sync += read_out.eq(1)
            with m.If((units[-1].done | read_out) & goodness.scanned):
                m.d.sync += goodness.positive(label)
                m.d.comb += units[0].start.eq(1)
                m.next = "POS_RUN0"
        for phase in ("POS", "NEG"):
            self._layer_states(m, hidden, f"{phase}_RUN", f"{phase}_MEASURE")
            with m.State(f"{phase}_MEASURE"):
                m.d.comb += goodness.measuring.eq(1)
                with m.If(goodness.last):
                    m.next = f"{phase}_INDEX"
            with m.State(f"{phase}_INDEX"):  # the goodness's last square is added: its table index follows
                m.next = f"{phase}_WEIGH"
            with m.State(f"{phase}_WEIGH"):
                m.d.comb += goodness.weighing.eq(1)
                m.next = f"{phase}_WRITE"
            with m.State(f"{phase}_WRITE"):
                m.d.comb += goodness.writing.eq(1)
                with m.If(goodness.last):
                    m.d.comb += [u.update.eq(1) for u in hidden]
                    m.d.sync += finished.eq(0)
                    m.next = f"{phase}_WAIT"
            with m.State(f"{phase}_WAIT"):
                done = Cat(*[u.done for u in hidden]) | finished
                m.d.sync += finished.eq(done)
                with m.If(done == (1 << len(hidden)) - 1):
                    if phase == "POS":
                        m.d.sync += goodness.negative_pass()
                        m.d.comb += units[0].start.eq(1)
                        m.next = "NEG_RUN0"
                    else:
                        m.d.sync += goodness.stop()
                        self._next_input(m)

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
