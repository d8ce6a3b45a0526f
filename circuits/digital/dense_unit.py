"""A fixed-point dense layer in hardware: ``slots × segments`` multiply-accumulate lanes, weights in on-chip memories.

The unit computes ``y = requantize(W x + b)`` exactly as ``ir.interp_digital`` defines it; every number (formats,
widths, the lane mapping, the activation table) comes from its :class:`LayerSpec`. The lanes form ``slots`` rows of
``segments``: lane ``(q, s)`` owns the output rows ``o ≡ q (mod slots)`` and the ``s``-th slice of ``L = ⌈in /
segments⌉`` inputs, so a narrow layer can still keep every lane busy. One group of ``slots`` outputs takes ``L``
cycles; a pipeline (issue → multiply-accumulate → sum the segments → round → activation and saturation) overlaps
the groups, so the whole layer takes ``groups · L + 5`` cycles from ``start`` to ``done`` (plus
``spec.mac_registers`` with registers around the multipliers, and ``slots − 1`` with a serial writeback, where
one requantizer takes a group's outputs one per cycle: ``LayerSpec.cycles``). The last three stages
are registered apart because together they were the longest path of the design on an iCE40 (nextpnr's
critical-path report: accumulators → segment sum → rounding adder → saturation → output register, 50 ns).
Accumulators never overflow (the quantize pass sized them for the whole sum), so the partial sums add up exactly.

Inputs are read, not stored: the unit drives ``x_addr[s]`` and expects ``x_data[s] = x[x_addr[s]]`` one cycle
later (a memory read port or a registered multiplexer). Each group's ``slots`` outputs leave on ``out_data`` while
``out_we`` is high (``out_group`` says which group); with ``spec.store == "registers"`` the unit also keeps them in
registers (``y``) until the next run, for a learning engine that reads them all at once. With ``"memory"`` the
network writes them into block RAM instead (:mod:`circuits.digital.network`).
With ``spec.multipliers == "shared"`` the lanes' forward products come from outside: lane ``l`` drives its
operands on ``mul_a[l]``/``mul_b[l]`` and takes ``mul_p[l] = mul_a[l] · mul_b[l]`` back in the same cycle, from
multipliers the network shares between layers (it gives them to the layer that runs).
While the unit is idle any weight can be written (``w_lane``/``w_word``/``w_data``/``w_we``) or read
(``w_rdata``, one cycle after the address); :meth:`DenseUnit.weight_address` says where row ``r``, column ``c``
lives (the network decodes it ahead of its register, so no division sits in front of the memories).

A learning layer (``spec.learn``) also runs an update pass on ``update``: the same issue loop reads every weight
and its input again, and two cycles later writes back ``saturate(w + Δw)`` with ``Δw`` computed from the row's
coefficient (the delta, or the layer's own output) as ``ir.interp_learn`` defines it; outputs and accumulators
are left alone. The unit drives ``coef_group`` (the group it issues) and expects ``coef[q]``, the coefficient of
row ``coef_group · slots + q``, one cycle later, as it expects its inputs. It takes the same ``groups · L + 5``
cycles as a forward pass. A learned bias (``spec.bias_input``) is the last column of the weights, whose input is
that constant rather than a read: the forward pass adds it as it adds the others, the update pass updates it as
it updates them, and the weight port reads and writes it as column ``n_in``.

A PEPITA layer (``spec.perturbs``) also runs perturbation passes on ``perturb``: a forward pass whose inputs the
network supplies from elsewhere (``perturbing`` says when), with the bias and the bias's constant input at 0,
each result rounded by ``spec.perturb_shift`` and saturated to ``coef_bits`` onto ``pert_data`` while
``pert_we`` (``out_group``/``out_slot`` say whose), while ``out_we`` stays low, so the outputs keep the forward
pass's. It takes the forward pass's cycles.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from circuits.digital.layer_spec import LayerSpec, real_row, saturate, shift_round, times


def _requantize(m: Module, acc: Value, spec: LayerSpec, name: str) -> Signal:
    """Requantization of ``acc`` in two stages: round half up by ``spec.shift`` into a register, then (from that
    register, combinationally) the activation and the saturation, or the table lookup."""
    width = len(acc) + 2
    rounded = Signal(signed(width), name=f"{name}_rounded")
    m.d.sync += rounded.eq(shift_round(acc, spec.shift))
    return activate(m, rounded, spec, name)


def activate(m: Module, rounded: Value, spec: LayerSpec, name: str) -> Signal:
    """The activation and the saturation of an already rounded value (combinationally), or the table lookup."""
    out = Signal(signed(spec.out_bits), name=f"{name}_out")
    if spec.table:
        bits = (len(spec.table) - 1).bit_length()
        index = Signal(range(len(spec.table)), name=f"{name}_index")
        m.d.comb += index.eq(saturate(rounded, bits) + (1 << (bits - 1)))
        m.submodules[f"{name}_table"] = rom = Memory(shape=signed(spec.out_bits), depth=len(spec.table),
                                                     init=list(spec.table))
        port = rom.read_port(domain="comb")
        m.d.comb += [port.addr.eq(index), out.eq(port.data)]
        return out
    # The activation and the saturation are one clamp: relu, hardtanh and the output format each bound the value,
    # and clamps to overlapping ranges compose into one. Two comparisons with constants, side by side, then a
    # multiplexer: far shorter than the activation's mux feeding the saturation's comparisons.
    lo, hi = -(1 << (spec.out_bits - 1)), (1 << (spec.out_bits - 1)) - 1
    if spec.fn == "relu":
        lo = 0
    elif spec.fn == "hardtanh":
        lo, hi = max(lo, -spec.clamp), min(hi, spec.clamp)
    m.d.comb += out.eq(Mux(rounded > hi, hi, Mux(rounded < lo, lo, rounded)))
    return out


class DenseUnit(wiring.Component):
    def __init__(self, spec: LayerSpec) -> None:
        if spec.store not in ("registers", "memory"):
            raise ValueError(f"a layer's outputs live in 'registers' or 'memory', not {spec.store!r}")
        if spec.bias_store not in ("logic", "memory"):
            raise ValueError(f"a layer's biases live in 'logic' or 'memory', not {spec.bias_store!r}")
        if spec.multipliers not in ("own", "shared"):
            raise ValueError(f"a layer's multipliers are its 'own' or 'shared', not {spec.multipliers!r}")
        if spec.writeback not in ("parallel", "serial"):
            raise ValueError(f"a layer's writeback is 'parallel' or 'serial', not {spec.writeback!r}")
        if spec.writeback == "serial" and spec.seg_len < spec.slots:
            raise ValueError(f"a serial writeback needs at least as many cycles per group as slots, not "
                             f"{spec.seg_len} for {spec.slots}")
        if spec.mac_registers not in (0, 1, 2):
            raise ValueError(f"a lane's multiplier has 0, 1 or 2 registers around it, not {spec.mac_registers!r}")
        if spec.slots < 1 or spec.segments < 1:
            raise ValueError(f"a layer needs at least one slot and one segment, not {spec.slots}×{spec.segments}")
        self.spec = spec
        self.n_in, self.n_out = spec.n_in, spec.n_out
        self.lanes = spec.slots * spec.segments
        learning = {"update": In(1), "coef_group": Out(range(max(spec.groups, 2))),
                    "coef": In(data.ArrayLayout(signed(spec.coef_bits), spec.slots))} if spec.learn else {}
        if spec.perturbs:
            learning |= {"perturb": In(1), "perturbing": Out(1), "pert_we": Out(1),
                         "pert_data": Out(data.ArrayLayout(signed(spec.coef_bits), spec.out_ports))}
        if spec.label_columns:
            learning |= {"label_on": In(1), "label": In(range(max(spec.label_columns, 2)))}
        if spec.learn == "hebbian":
            learning |= {"win_valid": In(1), "win_group": In(range(max(spec.groups, 2))),
                         "win_slot": In(range(max(spec.slots, 2)))}
        shared = {"mul_a": Out(data.ArrayLayout(signed(spec.w_bits), self.lanes)),
                  "mul_b": Out(data.ArrayLayout(signed(spec.in_bits), self.lanes)),
                  "mul_p": In(data.ArrayLayout(signed(spec.w_bits + spec.in_bits), self.lanes)),
                  } if spec.multipliers == "shared" else {}
        super().__init__({**learning, **shared,
            "start": In(1), "done": Out(1), "busy": Out(1),
            "x_addr": Out(data.ArrayLayout(range(max(self.n_in, 2)), spec.segments)),
            "x_data": In(data.ArrayLayout(signed(spec.in_bits), spec.segments)),
            **({"y": Out(data.ArrayLayout(signed(spec.out_bits), self.n_out))} if spec.store == "registers" else {}),
            "out_we": Out(1), "out_group": Out(range(max(spec.groups, 2))), "out_slot": Out(range(max(spec.slots, 2))),
            "out_data": Out(data.ArrayLayout(signed(spec.out_bits), spec.out_ports)),
            "w_lane": In(range(max(self.lanes, 2))), "w_word": In(range(max(spec.groups * spec.seg_len, 2))),
            "w_data": In(signed(spec.w_bits)), "w_we": In(1), "w_rdata": Out(signed(spec.w_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        spec = self.spec
        slots, segs, length, groups = spec.slots, spec.segments, spec.seg_len, spec.groups
        words = groups * length

        # Issue stage: group g, position j within every segment; ``word = g · L + j`` counted, not multiplied
        # (yosys would give a product by a constant that is no power of two a DSP).
        running = Signal()
        g = Signal(range(max(groups, 2)))
        j = Signal(range(max(length, 2)))
        word = Signal(range(max(words, 2)))
        with m.If(running):
            m.d.sync += word.eq(word + 1)
            with m.If(j == length - 1):
                m.d.sync += j.eq(0)
                with m.If(g == groups - 1):
                    m.d.sync += running.eq(0)
                with m.Else():
                    m.d.sync += g.eq(g + 1)
            with m.Else():
                m.d.sync += j.eq(j + 1)
        updating = Signal()  # this run is an update pass (read-modify-write of every weight), not a forward pass
        perturbing = Signal()  # this run is a perturbation pass: inputs from the network, no bias, no outputs
        kept = [perturbing.eq(0)] if spec.perturbs else []
        with m.Elif(self.start & ~self.busy):
            m.d.sync += [running.eq(1), g.eq(0), j.eq(0), word.eq(0), updating.eq(0), *kept]
        if spec.learn:
            with m.Elif(self.update & ~self.busy):
                m.d.sync += [running.eq(1), g.eq(0), j.eq(0), word.eq(0), updating.eq(1), *kept]
        if spec.perturbs:
            with m.Elif(self.perturb & ~self.busy):
                m.d.sync += [running.eq(1), g.eq(0), j.eq(0), word.eq(0), updating.eq(0), perturbing.eq(1)]
            m.d.comb += self.perturbing.eq(perturbing)
        for s in range(segs):
            col = s * length + j
            m.d.comb += self.x_addr[s].eq(Mux(col < self.n_in, col, self.n_in - 1))

        # Stage 1: the operands arrive; multiply-accumulate (the first input of a group starts from the bias).
        valid1, first1, last1 = Signal(), Signal(), Signal()
        group1 = Signal.like(g)
        pad1, const1 = Signal(segs), Signal(segs)  # a column past the edge; a learned bias's constant input
        m.d.sync += [valid1.eq(running), first1.eq(running & (j == 0)), last1.eq(running & (j == length - 1)),
                     group1.eq(g), pad1.eq(Cat(*[(s * length + j) >= spec.columns for s in range(segs)]))]
        if spec.bias_input:  # the last column
            m.d.sync += const1.eq(Cat(*[(s * length + j) == spec.columns - 1 for s in range(segs)]))
        labelled1 = Signal(segs)  # forward-forward: a label column (the label's, while labels are on, is 1.0)
        if spec.label_columns:
            m.d.sync += labelled1.eq(Cat(*[((s * length + j) >= self.n_in) & ((s * length + j) <
                                          self.n_in + spec.label_columns) for s in range(segs)]))
            at_label = Signal(segs)
            m.d.sync += at_label.eq(Cat(*[self.label_on & ((s * length + j) == self.n_in + self.label)
                                         for s in range(segs)]))
        # Stage 2: every segment's partial sum is final: add them (into a register). Stage 3: round (into a
        # register). Stage 4: the activation and the saturation; store the group's outputs.
        # With registers around the multipliers the accumulation happens ``mac_registers`` cycles after stage 1:
        # the stage's flags and group, and the bias table's address, follow it that much later.
        issued = [g, group1]  # the group at the issue stage, at stage 1, and each cycle after that
        mac_valid, mac_first, mac_last = valid1, first1, last1
        valids = [valid1]
        for k in range(spec.mac_registers):
            later = [Signal(name=f"valid1_{k}"), Signal(name=f"first1_{k}"), Signal(name=f"last1_{k}")]
            issued.append(Signal.like(g, name=f"group1_{k}"))
            m.d.sync += [later[0].eq(mac_valid), later[1].eq(mac_first), later[2].eq(mac_last),
                         issued[-1].eq(issued[-2])]
            mac_valid, mac_first, mac_last = later
            valids.append(mac_valid)
        mac_group = issued[-1]
        store = [Signal(name=f"store{k}") for k in (2, 3, 4)]
        group = [Signal.like(g, name=f"group{k}") for k in (2, 3, 4)]
        m.d.sync += [store[0].eq(mac_valid & mac_last & ~updating), group[0].eq(mac_group)]
        m.d.sync += [store[k + 1].eq(store[k]) for k in range(2)] + [group[k + 1].eq(group[k]) for k in range(2)]
        # the run's last group has left stage k (a serial writeback: and its outputs one per cycle after that)
        pass_end = [Signal(name=f"end{k}") for k in range(2, 5 + spec.drain_cycles)]
        m.d.sync += [pass_end[0].eq(mac_valid & mac_last & (mac_group == groups - 1))]
        m.d.sync += [pass_end[k + 1].eq(pass_end[k]) for k in range(len(pass_end) - 1)]
        addr1 = Signal(range(max(words, 2)))
        m.d.sync += addr1.eq(word)
        addr2, write2 = Signal.like(addr1), Signal()  # the update pass's write-back, a cycle after stage 1
        m.d.sync += [addr2.eq(addr1), write2.eq(valid1 & updating)]
        m.d.comb += self.busy.eq(running | Cat(*valids, *pass_end).any())
        m.d.sync += self.done.eq(pass_end[-1])

        w_lane, w_word = self.w_lane, self.w_word  # the weight port's address
        read_lane = Signal.like(w_lane)
        m.d.sync += read_lane.eq(w_lane)

        if spec.learn:
            m.d.comb += self.coef_group.eq(g)
        totals = []
        updates: dict[tuple[int, int], tuple[Value, Value, Value, object]] = {}  # lane → coef, w, x, write port
        for q in range(slots):
            coef = self._coefficient(q, group1) if spec.learn else None
            accs = []
            for s in range(segs):
                lane = q * segs + s
                mem = Memory(shape=signed(spec.w_bits), depth=max(words, 1), init=spec.lane_weights(q, s))
                m.submodules[f"wmem{lane}"] = mem
                rp = mem.read_port(transparent_for=())
                wp = mem.write_port()
                constant = Mux(perturbing, 0, spec.bias_input) if spec.perturbs else spec.bias_input
                operand = Mux(const1[s], constant, Mux(pad1[s], 0, self.x_data[s]))
                if spec.label_columns:
                    operand = Mux(labelled1[s], Mux(at_label[s], spec.label_input, 0), operand)
                mac = mac_valid & ~updating  # this lane accumulates a product in this cycle
                port_write = self.w_we & ~self.busy & (w_lane == lane)
                m.d.comb += [rp.addr.eq(Mux(running, word, w_word)),
                             wp.addr.eq(w_word), wp.data.eq(self.w_data), wp.en.eq(port_write)]
                if coef is not None:
                    updates[q, s] = (coef, rp.data, operand, wp)
                with m.If(read_lane == lane):
                    m.d.comb += self.w_rdata.eq(rp.data)
                acc = Signal(signed(spec.acc_bits), name=f"acc{lane}")
                start = Signal(signed(spec.acc_bits), name=f"start{lane}")
                if s == 0:
                    style = {"ram_style": "block" if spec.bias_store == "memory" else "logic"}
                    bmem = Memory(shape=signed(spec.bias_bits), depth=groups, init=spec.lane_bias(q), attrs=style)
                    m.submodules[f"bmem{q}"] = bmem
                    bp = bmem.read_port(transparent_for=())
                    m.d.comb += [bp.addr.eq(issued[spec.mac_registers]),
                                 start.eq(Mux(mac_first, self._bias(bp.data, perturbing), acc))]
                else:
                    m.d.comb += start.eq(Mux(mac_first, 0, acc))
                product = self._product(m, lane, rp.data, operand)
                with m.If(mac):
                    m.d.sync += acc.eq(start + product)
                accs.append(acc)
            total = Signal(signed(spec.acc_bits + (segs - 1).bit_length()), name=f"sum{q}")
            with m.If(store[0]):
                m.d.sync += total.eq(sum(accs[1:], accs[0]))
            totals.append(total)
        if updates:
            self._write_back(m, updates, write2, addr2, j, group1, valid1 & updating, const1)
        if spec.writeback == "serial":
            self._serial_writeback(m, totals, store[0], group[0], perturbing)
        else:
            outs = [_requantize(m, total, spec, f"rq{q}") for q, total in enumerate(totals)]
            m.d.comb += [self.out_we.eq(self._outputs(m, store[2], perturbing)), self.out_group.eq(group[2])]
            m.d.comb += [self.out_data[q].eq(out) for q, out in enumerate(outs)]
            for q, total in enumerate(totals):
                self._perturbed(m, total, q)
        if spec.store == "registers":
            serial = spec.writeback == "serial"
            for o in range(self.n_out):
                mine = (self.out_slot == o % slots) if serial else 1  # serial: the slot leaving now is o's
                with m.If(self.out_we & (self.out_group == o // slots) & mine):
                    m.d.sync += self.y[o].eq(self.out_data[0 if serial else o % slots])
        return m

    def _write_back(self, m: Module, updates: dict[tuple[int, int], tuple[Value, Value, Value, object]],
                    write2: Signal, addr2: Signal, column: Signal, group1: Signal, updating1: Value,
                    const1: Signal) -> None:
        """The update pass: every lane's weight read and its change registered, then the sum saturated and
        written back (two cycles after the read: the memory → multiplier → adder → saturation path in one cycle
        was the on-chip designs' longest). Oja's rule (Sanger's) subtracts from each input the sum of
        ``round(y_j · W_jc / 2^decay)`` over the rows ``j`` up to the lane's own: the rows of earlier groups
        from a memory of one sum per column (per segment; the first group starts from 0), those of this group
        from the slots before it, all in the same cycle. Hebbian's lanes compute their change in
        :meth:`_instar`."""
        spec = self.spec
        prefix: dict[tuple[int, int], Value] = {}
        if spec.learn == "hebbian":
            changes = self._instar(m, updates, column, group1, updating1, const1)
        if spec.learn == "oja":
            length = spec.seg_len
            col1 = Signal.like(column, name="column1")
            m.d.sync += col1.eq(column)
            for s in range(spec.segments):
                terms = [shift_round(updates[q, s][0] * updates[q, s][1], spec.decay_shift)
                         for q in range(spec.slots)]
                width = spec.decay_bits
                mem = Memory(shape=signed(width), depth=max(length, 2), init=[])
                m.submodules[f"gha{s}"] = mem
                wp = mem.write_port()
                rp = mem.read_port(transparent_for=(wp,))
                base = Signal(signed(width), name=f"gha{s}_base")
                m.d.comb += [rp.addr.eq(column), base.eq(Mux(group1 == 0, 0, rp.data))]
                running: Value = base
                for q, term in enumerate(terms):
                    running = running + term
                    prefix[q, s] = running
                m.d.comb += [wp.addr.eq(col1), wp.data.eq(running), wp.en.eq(updating1)]
        for (q, s), (coef, w, x, wp) in updates.items():
            lane = q * spec.segments + s
            change = changes[q, s] if spec.learn == "hebbian" else self._update(coef, w, x, prefix.get((q, s)))
            held_w = Signal(signed(spec.w_bits), name=f"w{lane}_held")
            held_change = Signal(change.shape(), name=f"dw{lane}_held")
            m.d.sync += [held_w.eq(w), held_change.eq(change)]
            with m.If(write2):
                m.d.comb += [wp.addr.eq(addr2), wp.en.eq(1),  # type: ignore[attr-defined]
                             wp.data.eq(saturate(held_w + held_change, spec.w_bits))]  # type: ignore[attr-defined]

    def _instar(self, m: Module, updates: dict[tuple[int, int], tuple[Value, Value, Value, object]],
                column: Signal, group1: Signal, updating1: Value, const1: Signal) -> dict[tuple[int, int], Value]:
        """Hebbian's changes, lane by lane: the winner's row (``win_*``) steps towards the centred input, each
        segment's running input means in a memory of one per column (read with the weights; the last group
        writes the new means, so every row of the pass sees the old ones); a learned bias steps down after an
        active sample, up after a silent one."""
        spec = self.spec
        col1 = Signal.like(column, name="mean_column1")
        m.d.sync += col1.eq(column)
        changes: dict[tuple[int, int], Value] = {}
        for s in range(spec.segments):
            mem = Memory(shape=signed(spec.mean_bits + 1), depth=max(spec.seg_len, 2), init=[])
            m.submodules[f"mean{s}"] = mem
            wp = mem.write_port()
            rp = mem.read_port(transparent_for=())
            x = updates[0, s][2]  # every slot of the segment reads the same column
            scaled = Signal(signed(spec.mean_bits + 2), name=f"centred{s}")
            m.d.comb += [rp.addr.eq(column), scaled.eq((x << spec.mean_frac) - rp.data)]
            m.d.comb += [wp.addr.eq(col1), wp.data.eq(rp.data + shift_round(scaled, spec.mean_shift)),
                         wp.en.eq(updating1 & (group1 == spec.groups - 1))]
            target = shift_round(scaled, -spec.hebb_align)
            for q in range(spec.slots):
                coef, w = updates[q, s][0], updates[q, s][1]
                won = self.win_valid & (self.win_slot == q) & (group1 == self.win_group)
                change: Value = Mux(won, shift_round(target - w, spec.learn_shift), 0)
                if spec.bias_input:
                    step = Mux(real_row(spec, group1, q), Mux(coef > 0, -spec.threshold_step, spec.threshold_step), 0)
                    change = Mux(const1[s], step, change)
                changes[q, s] = change
        return changes

    def _bias(self, bias: Value, perturbing: Signal) -> Value:
        """A group's starting value: its bias, or 0 in a perturbation pass."""
        return Mux(perturbing, 0, bias) if self.spec.perturbs else bias

    def _outputs(self, m: Module, valid: Value, perturbing: Signal) -> Value:
        """``out_we``; with perturbation passes also drives ``pert_we`` (their results go there, and the outputs
        keep the forward pass's)."""
        if not self.spec.perturbs:
            return valid
        m.d.comb += self.pert_we.eq(valid & perturbing)
        return valid & ~perturbing

    def _perturbed(self, m: Module, total: Value, port: int) -> None:
        """A perturbation pass's output ``port``: ``total`` rounded (registered, as the requantizer's rounding)
        and saturated to the coefficient's width, on ``pert_data`` while ``pert_we``."""
        spec = self.spec
        if not spec.perturbs:
            return
        rounded = Signal(signed(len(total) + 2), name=f"pert{port}_rounded")
        m.d.sync += rounded.eq(shift_round(total, spec.perturb_shift))
        m.d.comb += self.pert_data[port].eq(saturate(rounded, spec.coef_bits))

    def _serial_writeback(self, m: Module, totals: list[Signal], latched: Signal, group: Signal,
                          perturbing: Signal) -> None:
        """One requantizer for every slot: the cycle after a group's totals are latched (``latched``), slot 0's
        goes to the rounding stage, then slot 1's, and so on; each leaves on ``out_data[0]`` two cycles after it
        went in (as a parallel writeback's outputs do), with ``out_slot`` saying whose it is."""
        slots = self.spec.slots
        draining, slot = Signal(), Signal(range(max(slots, 2)))
        held = Signal.like(group)  # the group being drained
        with m.If(draining):
            with m.If(slot == slots - 1):
                m.d.sync += draining.eq(0)
            with m.Else():
                m.d.sync += slot.eq(slot + 1)
        with m.If(latched):  # the next group's totals are latched no sooner than the last slot went in
            m.d.sync += [draining.eq(1), slot.eq(0), held.eq(group)]
        out = _requantize(m, Array(totals)[slot], self.spec, "rq")
        valid, out_slot, out_group = Signal(), Signal.like(slot), Signal.like(group)
        m.d.sync += [valid.eq(draining), out_slot.eq(slot), out_group.eq(held)]
        m.d.comb += [self.out_we.eq(self._outputs(m, valid, perturbing)), self.out_slot.eq(out_slot),
                     self.out_group.eq(out_group), self.out_data[0].eq(out)]
        self._perturbed(m, Array(totals)[slot], 0)

    def _product(self, m: Module, lane: int, weight: Value, operand: Value) -> Value:
        """Lane ``lane``'s product of the weight and the input that arrived in stage 1, ``mac_registers`` cycles
        later: from its own multiplier or the shared one (operands out, the product back in the same cycle)."""
        spec = self.spec
        if spec.mac_registers == 2:  # register the operands (the memories' outputs are slow to reach a multiplier)
            w, x = Signal(signed(spec.w_bits), name=f"w{lane}_q"), Signal(signed(spec.in_bits), name=f"x{lane}_q")
            m.d.sync += [w.eq(weight), x.eq(operand)]
            weight, operand = w, x
        if spec.multipliers == "shared":
            m.d.comb += [self.mul_a[lane].eq(weight), self.mul_b[lane].eq(operand)]
            product: Value = self.mul_p[lane]
        else:
            product = weight * operand
        if spec.mac_registers:  # and the product
            registered = Signal(signed(spec.w_bits + spec.in_bits), name=f"p{lane}_q")
            m.d.sync += registered.eq(product)
            return registered
        return product

    def weight_address(self, row: Value, col: Value) -> tuple[Value, Value]:
        """The weight port's ``(w_lane, w_word)`` for row ``row``, column ``col``: lane ``(row mod slots, col // L)``
        at word ``(row // slots) · L + col mod L``."""
        spec = self.spec
        slots, length = spec.slots, spec.seg_len
        return times(row % slots, spec.segments) + col // length, times(row // slots, length) + col % length

    def _coefficient(self, q: int, group: Signal) -> Value:
        """The coefficient of the row slot ``q`` works on in ``group`` (0 for a padding row of the last group)."""
        spec = self.spec
        if (spec.groups - 1) * spec.slots + q < self.n_out:
            return self.coef[q]
        return Mux(group == spec.groups - 1, 0, self.coef[q])

    def _update(self, coef: Value, w: Value, x: Value, decay: Value | None) -> Value:
        """A weight's change, exactly as ``ir.interp_learn`` defines it for the delta rule and Oja's (``decay``:
        Oja's sum over the rows up to this one)."""
        spec = self.spec
        if spec.learn == "delta":
            return shift_round(-(coef * x), spec.learn_shift)
        assert spec.learn == "oja" and decay is not None, spec.learn
        return shift_round(coef * (x - decay), spec.learn_shift)

