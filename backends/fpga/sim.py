"""Run a network's hardware in the Amaranth simulator through a host program (:mod:`backends.fpga.program`)."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from backends.fpga.program import Infer, LoadWeights, ReadWeights, Result, Step, Streamed, Train
from circuits.digital.network import Network
from circuits.digital.shared_network import SharedNetwork


def simulate_amaranth(net: Network | SharedNetwork, steps: list[Step]) -> list[Result]:
    """Each step's result. Inputs stream in back to back (one word per cycle whenever ``i.ready``) while
    outputs are taken as they come; the weight port reads one weight per cycle (data two cycles later)."""
    results: list[Result] = []

    async def idle(ctx) -> None:  # noqa: ANN001 - the simulator's context
        while not ctx.get(net.idle):
            await ctx.tick()

    async def stream(ctx, step: Infer | Train) -> Streamed:  # noqa: ANN001
        flat = step.words()
        n = len(step.x)
        words: list[int] = []
        done_at: list[int] = []
        k = cycle = 0
        while len(done_at) < n:
            ctx.set(net.i.valid, k < len(flat))
            if k < len(flat):
                ctx.set(net.i.payload, flat[k])
            taken = k < len(flat) and ctx.get(net.i.ready)
            if ctx.get(net.o.valid):
                words.append(ctx.get(net.o.payload))
                if len(words) % net.n_out == 0:
                    done_at.append(cycle + 1)
            await ctx.tick()
            cycle += 1
            k += bool(taken)
        ctx.set(net.i.valid, 0)
        return Streamed(np.array(words, dtype=np.int64).reshape(n, net.n_out), np.diff([0, *done_at]).tolist())

    async def read_weights(ctx) -> list[np.ndarray]:  # noqa: ANN001
        addresses = [(k, r, c) for k, u in enumerate(net.specs) for r in range(u.n_out) for c in range(u.columns)]
        values: list[int] = []
        for n in range(len(addresses) + 2):
            if n < len(addresses):
                k, r, c = addresses[n]
                ctx.set(net.w_layer, k)
                ctx.set(net.w_row, r)
                ctx.set(net.w_col, c)
            if n >= 2:
                values.append(ctx.get(net.w_rdata))
            await ctx.tick()
        out, at = [], 0
        for u in net.specs:
            out.append(np.array(values[at: at + u.n_out * u.columns], dtype=np.int64).reshape(u.n_out, u.columns))
            at += u.n_out * u.columns
        return out

    async def load_weights(ctx, step: LoadWeights) -> list[np.ndarray]:  # noqa: ANN001
        values = iter(step.values())
        for k, u in enumerate(net.specs):
            for r in range(u.n_out):
                for c in range(u.columns):
                    ctx.set(net.w_layer, k)
                    ctx.set(net.w_row, r)
                    ctx.set(net.w_col, c)
                    ctx.set(net.w_data, next(values))
                    ctx.set(net.w_we, 1)
                    await ctx.tick()
        ctx.set(net.w_we, 0)
        await ctx.tick().repeat(2)  # the last write lands one cycle after the port's registers
        return []

    async def bench(ctx) -> None:  # noqa: ANN001
        ctx.set(net.o.ready, 1)
        for step in steps:
            await idle(ctx)
            if isinstance(step, ReadWeights):
                results.append(await read_weights(ctx))
            elif isinstance(step, LoadWeights):
                results.append(await load_weights(ctx, step))
            else:
                ctx.set(net.train, isinstance(step, Train))
                results.append(await stream(ctx, step))

    sim = Simulator(net)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results
