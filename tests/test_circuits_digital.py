"""The DenseUnit hardware against the integer reference, bit for bit, in the Amaranth simulator."""

import numpy as np
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.digital.dense_unit import DenseUnit
from circuits.digital.layer_spec import LayerSpec
from ir.dialects import digital
from ir.interp_digital import DIGITAL_KERNELS


def run_unit(w, b, x, *, in_bits, w_bits, shift, fn, out_bits, out_frac, slots, segments, table=()):
    acc_bits = digital.accumulator_bound(w, b, in_bits).bit_length() + 1
    spec = LayerSpec(w.tolist(), b.tolist(), in_bits, w_bits, acc_bits, shift, fn, out_bits, out_frac, slots,
                     segments, tuple(table), clamp=digital.hardtanh_one(out_frac))
    dut = DenseUnit(spec)
    got, cycles = [], []

    async def bench(ctx):  # the inputs come from a "memory" answering x_addr one cycle later
        ctx.set(dut.start, 1)
        n = 0
        while True:
            addrs = [ctx.get(dut.x_addr[s]) for s in range(segments)]
            await ctx.tick()
            ctx.set(dut.start, 0)
            n += 1
            ctx.set(dut.x_data, [int(x[a]) for a in addrs])
            if ctx.get(dut.done):
                break
        cycles.append(n)
        got.extend(ctx.get(dut.y[o]) for o in range(len(w)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got), cycles[0], spec


def reference(w, b, x, *, shift, fn, out_bits, out_frac, table=()):
    acc = DIGITAL_KERNELS["digital.dense"](
        digital.Dense(w.shape[1], w.shape[0], "w", "b", 8, 0, 8, 0, 62), [x[None, :]], {"w": w, "b": b})[0]
    if table:  # the table is indexed by acc rounded by `shift` bits: in_frac − table_frac = shift
        op = digital.Requantize(fn, shift, out_bits, out_frac, "t", 0)
        return DIGITAL_KERNELS["digital.requantize"](op, [acc], {"t": np.array(table)})[0][0]
    op = digital.Requantize(fn, shift + out_frac, out_bits, out_frac)
    return DIGITAL_KERNELS["digital.requantize"](op, [acc], {})[0][0]


@settings(max_examples=40)
@given(n_in=st.integers(1, 9), n_out=st.integers(1, 9), slots=st.integers(1, 5), segments=st.integers(1, 4),
       shift=st.integers(-2, 9), fn=st.sampled_from(digital.REQUANT_ACTIVATIONS + digital.TABLE_ACTIVATIONS),
       out_bits=st.integers(3, 10), out_frac=st.integers(0, 4), table_bits=st.integers(2, 6),
       seed=st.integers(0, 10**6))
def test_dense_unit_is_bit_exact_and_takes_the_stated_cycles(n_in, n_out, slots, segments, shift, fn, out_bits,
                                                              out_frac, table_bits, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (n_out, n_in))
    b = rng.integers(-3000, 3000, n_out)
    x = rng.integers(-128, 128, n_in)
    lim = 1 << (out_bits - 1)
    table = tuple(rng.integers(-lim, lim, 1 << table_bits).tolist()) if fn in digital.TABLE_ACTIVATIONS else ()
    got, cycles, spec = run_unit(w, b, x, in_bits=8, w_bits=8, shift=shift, fn=fn, out_bits=out_bits,
                                 out_frac=out_frac, slots=min(slots, n_out), segments=min(segments, n_in),
                                 table=table)
    expected = reference(w, b, x, shift=shift, fn=fn, out_bits=out_bits, out_frac=out_frac, table=table)
    np.testing.assert_array_equal(got, expected)
    assert cycles == spec.cycles == spec.groups * spec.seg_len + 5
