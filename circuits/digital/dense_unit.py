"""A fixed-point dense layer in hardware: ``P`` multiply-accumulate lanes, weights in on-chip memories.

The unit computes ``y = requantize(W x + b)`` exactly as ``ir.interp_digital`` defines it (the numbers, formats
and widths all come from the caller; the unit decides nothing numeric). Lane ``p`` owns output rows
``o ≡ p (mod P)`` and reads them from its own weight memory, so ``P`` rows advance together: one pass over the
``in_features`` inputs per group of ``P`` outputs: ``⌈out/P⌉ · (in + 2)`` cycles (one to fetch the first
operands and load the biases, one to requantize every lane at once into the output registers).

Interface: load the input vector through ``x_addr``/``x_data``/``x_we``; pulse ``start``; ``done`` rises when
every output is in the output registers, read back through ``y_addr``/``y_data``. While idle, any weight can be
written (``w_row``/``w_col``/``w_data``/``w_we``) or read (``w_rdata``, one cycle after the address).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


def _requantize(acc: Signal, shift: int, fn: str, out_bits: int, out_frac: int) -> tuple[list, Signal]:
    """Combinational ``sat(act(round_half_up(acc / 2^shift)))``; returns (statements, result)."""
    width = len(acc) + 2
    rounded = Signal(signed(width))
    if shift > 0:
        stmts = [rounded.eq((acc + (1 << (shift - 1))) >> shift)]
    else:
        stmts = [rounded.eq(acc << -shift)]
    act = Signal(signed(width))
    if fn == "relu":
        stmts.append(act.eq(Mux(rounded < 0, 0, rounded)))
    elif fn == "hardtanh":
        one = 1 << out_frac if out_frac >= 0 else 0
        stmts.append(act.eq(Mux(rounded > one, one, Mux(rounded < -one, -one, rounded))))
    else:
        stmts.append(act.eq(rounded))
    lo, hi = -(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1
    out = Signal(signed(out_bits))
    stmts.append(out.eq(Mux(act > hi, hi, Mux(act < lo, lo, act))))
    return stmts, out


class DenseUnit(wiring.Component):
    def __init__(self, weights: list[list[int]], bias: list[int], *, in_bits: int, w_bits: int, acc_bits: int,
                 shift: int, fn: str, out_bits: int, out_frac: int, lanes: int) -> None:
        self.n_out, self.n_in = len(weights), len(weights[0])
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes!r}")
        self.lanes = min(lanes, self.n_out)
        self.groups = -(-self.n_out // self.lanes)
        self.weights, self.bias = weights, bias
        self.in_bits, self.w_bits, self.acc_bits = in_bits, w_bits, acc_bits
        self.shift, self.fn, self.out_bits, self.out_frac = shift, fn, out_bits, out_frac
        super().__init__({
            "x_addr": In(range(max(self.n_in, 2))), "x_data": In(signed(in_bits)), "x_we": In(1),
            "start": In(1), "done": Out(1), "busy": Out(1),
            "y_addr": In(range(max(self.n_out, 2))), "y_data": Out(signed(out_bits)),
            "w_row": In(range(max(self.n_out, 2))), "w_col": In(range(max(self.n_in, 2))),
            "w_data": In(signed(w_bits)), "w_we": In(1), "w_rdata": Out(signed(w_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        n_in, lanes, groups = self.n_in, self.lanes, self.groups
        m.submodules.xmem = xmem = Memory(shape=signed(self.in_bits), depth=n_in, init=[])
        xw, xr = xmem.write_port(), xmem.read_port(transparent_for=())
        m.d.comb += [xw.addr.eq(self.x_addr), xw.data.eq(self.x_data), xw.en.eq(self.x_we & ~self.busy)]

        group = Signal(range(groups + 1))
        i = Signal(range(n_in + 1))
        # The weight port: row r lives in lane r % P at word (r // P) · in + column. Writes and reads are served
        # while the unit is idle; a read's data appears on w_rdata one cycle after its address.
        w_lane = Signal(range(lanes))
        w_word = Signal(range(groups * n_in + 1))
        m.d.comb += [w_lane.eq(self.w_row % lanes), w_word.eq((self.w_row // lanes) * n_in + self.w_col)]
        read_lane = Signal(range(lanes))
        m.d.sync += read_lane.eq(w_lane)
        accs, wports, biases = [], [], []
        for p in range(lanes):
            rows = [self.weights[o] if o < self.n_out else [0] * n_in for o in range(p, groups * lanes, lanes)]
            mem = Memory(shape=signed(self.w_bits), depth=groups * n_in, init=[w for row in rows for w in row])
            m.submodules[f"wmem{p}"] = mem
            rp = mem.read_port(transparent_for=())
            m.d.comb += rp.addr.eq(Mux(self.busy, group * n_in + i, w_word))
            wports.append(rp)
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(w_word), wp.data.eq(self.w_data),
                         wp.en.eq(self.w_we & ~self.busy & (w_lane == p))]
            with m.If(read_lane == p):
                m.d.comb += self.w_rdata.eq(rp.data)
            bmem = Memory(shape=signed(self.acc_bits), depth=groups,
                          init=[self.bias[o] if o < self.n_out else 0 for o in range(p, groups * lanes, lanes)])
            m.submodules[f"bmem{p}"] = bmem
            bp = bmem.read_port(domain="comb")
            m.d.comb += bp.addr.eq(group)
            biases.append(bp)
            accs.append(Signal(signed(self.acc_bits), name=f"acc{p}"))
        m.d.comb += xr.addr.eq(i)

        # Output registers; each lane's requantizer writes its row of the current group.
        ys = [Signal(signed(self.out_bits), name=f"y{o}") for o in range(self.n_out)]
        outs = []
        for p, acc in enumerate(accs):
            stmts, out = _requantize(acc, self.shift, self.fn, self.out_bits, self.out_frac)
            m.d.comb += stmts
            outs.append(out)
        with m.Switch(self.y_addr):
            for o, y in enumerate(ys):
                with m.Case(o):
                    m.d.comb += self.y_data.eq(y)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [group.eq(0), i.eq(0), self.done.eq(0), self.busy.eq(1)]
                    m.next = "LOAD"
            with m.State("LOAD"):  # accumulators start at the bias; the memories fetch input 0
                m.d.sync += [acc.eq(b.data) for acc, b in zip(accs, biases)]
                m.d.sync += i.eq(1)
                m.next = "MAC"
            with m.State("MAC"):  # the memories hold input i-1's operands
                m.d.sync += [acc.eq(acc + rp.data * xr.data) for acc, rp in zip(accs, wports)]
                with m.If(i == n_in):
                    m.next = "STORE"
                with m.Else():
                    m.d.sync += i.eq(i + 1)
            with m.State("STORE"):
                for o, y in enumerate(ys):
                    with m.If(group == o // lanes):
                        m.d.sync += y.eq(outs[o % lanes])
                with m.If(group == groups - 1):
                    m.d.sync += [self.done.eq(1), self.busy.eq(0)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [group.eq(group + 1), i.eq(0)]
                    m.next = "LOAD"
        return m
