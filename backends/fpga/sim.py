"""Run a quantized network's hardware in the Amaranth simulator over a batch of integer inputs."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from circuits.digital.network import Network


def simulate_amaranth(net: Network, x_codes: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Output integers ``(n, outputs)`` for input codes ``(n, inputs)``, and the cycles each inference took
    (first input accepted to last output sent)."""
    outputs: list[list[int]] = []
    cycles: list[int] = []

    async def bench(ctx):  # noqa: ANN001, ANN202 - the simulator's context
        for row in x_codes.tolist():
            n = 0
            ctx.set(net.o.ready, 1)
            for v in row:
                ctx.set(net.i.payload, v)
                ctx.set(net.i.valid, 1)
                await ctx.tick()
                n += 1
            ctx.set(net.i.valid, 0)
            got: list[int] = []
            while len(got) < net.n_out:
                if ctx.get(net.o.valid):
                    got.append(ctx.get(net.o.payload))
                await ctx.tick()
                n += 1
            outputs.append(got)
            cycles.append(n)

    sim = Simulator(net)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return np.array(outputs, dtype=np.int64), cycles
