"""Run a quantized network's hardware in the Amaranth simulator over a batch of integer inputs."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from circuits.digital.network import Network


def simulate_amaranth(net: Network, x_codes: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Output integers ``(n, outputs)`` for input codes ``(n, inputs)``, and the cycles each inference took.

    The inputs stream in back to back (one per cycle whenever ``i.ready``) while outputs are taken as they come,
    as a host would drive it; inference ``k``'s cycles run from the end of inference ``k − 1`` (the start, for the
    first) to its last output word, so the first is the latency and the rest the steady-state interval."""
    flat = x_codes.astype(np.int64).ravel().tolist()
    words: list[int] = []
    done_at: list[int] = []

    async def bench(ctx):  # noqa: ANN001, ANN202 - the simulator's context
        k = cycle = 0
        ctx.set(net.o.ready, 1)
        while len(done_at) < len(x_codes):
            if k < len(flat):
                ctx.set(net.i.payload, flat[k])
                ctx.set(net.i.valid, 1)
            else:
                ctx.set(net.i.valid, 0)
            taken = k < len(flat) and ctx.get(net.i.ready)
            if ctx.get(net.o.valid):
                words.append(ctx.get(net.o.payload))
                if len(words) % net.n_out == 0:
                    done_at.append(cycle + 1)
            await ctx.tick()
            cycle += 1
            k += bool(taken)

    sim = Simulator(net)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return np.array(words, dtype=np.int64).reshape(len(x_codes), net.n_out), list(np.diff([0, *done_at]).tolist())
