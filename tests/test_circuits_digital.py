"""The DenseUnit hardware against the integer reference, bit for bit, in the Amaranth simulator."""

import numpy as np
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from circuits.digital.dense_unit import DenseUnit
from ir.dialects import digital
from ir.interp_digital import DIGITAL_KERNELS


def run_unit(w, b, x, *, in_bits, w_bits, shift, fn, out_bits, out_frac, lanes):
    acc_bits = digital.accumulator_bound(w, b, in_bits).bit_length() + 1
    dut = DenseUnit(w.tolist(), b.tolist(), in_bits=in_bits, w_bits=w_bits, acc_bits=acc_bits, shift=shift, fn=fn,
                    out_bits=out_bits, out_frac=out_frac, lanes=lanes)
    got, cycles = [], []

    async def bench(ctx):
        for k, v in enumerate(x.tolist()):
            ctx.set(dut.x_addr, k)
            ctx.set(dut.x_data, v)
            ctx.set(dut.x_we, 1)
            await ctx.tick()
        ctx.set(dut.x_we, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        n = 0
        while not ctx.get(dut.done):
            await ctx.tick()
            n += 1
        cycles.append(n)
        for o in range(len(w)):
            ctx.set(dut.y_addr, o)
            got.append(ctx.get(dut.y_data))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got), cycles[0], dut


def reference(w, b, x, *, shift, fn, out_bits, out_frac):
    acc = DIGITAL_KERNELS["digital.dense"](
        digital.Dense(w.shape[1], w.shape[0], "w", "b", 8, 0, 8, 0, 62), [x[None, :]], {"w": w, "b": b})[0]
    op = digital.Requantize(fn, shift + out_frac, out_bits, out_frac)
    return DIGITAL_KERNELS["digital.requantize"](op, [acc], {})[0][0]


@settings(max_examples=40)
@given(n_in=st.integers(1, 9), n_out=st.integers(1, 9), lanes=st.integers(1, 10), shift=st.integers(-2, 9),
       fn=st.sampled_from(digital.REQUANT_ACTIVATIONS), out_bits=st.integers(3, 10), out_frac=st.integers(0, 4),
       seed=st.integers(0, 10**6))
def test_dense_unit_is_bit_exact_and_takes_the_stated_cycles(n_in, n_out, lanes, shift, fn, out_bits, out_frac,
                                                              seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (n_out, n_in))
    b = rng.integers(-3000, 3000, n_out)
    x = rng.integers(-128, 128, n_in)
    got, cycles, dut = run_unit(w, b, x, in_bits=8, w_bits=8, shift=shift, fn=fn, out_bits=out_bits,
                                out_frac=out_frac, lanes=lanes)
    np.testing.assert_array_equal(got, reference(w, b, x, shift=shift, fn=fn, out_bits=out_bits, out_frac=out_frac))
    assert cycles == dut.groups * (n_in + 2)
