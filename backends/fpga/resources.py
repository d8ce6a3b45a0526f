"""What a design needs of a device before any tool runs: multipliers and block RAMs, counted from the layer specs
the way yosys maps them.

- On a shared datapath every lane is one multiplier and one weight memory for all layers (:func:`_shared_needs`),
  in block RAM or (iCE40 UltraPlus) in SPRAM, lanes packed into its 16-bit words.
- Every lane multiplies a weight by an input (layers whose multipliers are "shared" use one set, as many as the
  widest of them has lanes, as wide as their widest operands); a learning lane also multiplies its row's
  coefficient by the input, and Oja's lane the coefficient by the weight and by the input less the decay sum
  (whose column sums, a memory per segment, are a block RAM too); Hebbian's lane multiplies nothing (its
  winner steps towards the input by a shift), and its running input means are a block RAM per segment;
  forward-forward squares each hidden layer's outputs and multiplies them by its probability. yosys
  (``synth_ice40 -dsp``, ``synth_ecp5``) gives a product to multiplier cells when it is at least 11 bits wide, one
  cell per ``dsp_width``-bit slice of each operand.
- Every weight memory, every bias table ``place-memories`` put in block RAM (one per slot), every layer's output banks
  it put there (a bank per slot, or one for a serial writeback; a copy per read port; the last layer's
  double-buffered), a hidden DFA layer's delta memory (a bank per slot; DFA's ±1 feedback table stays in logic),
  PEPITA's modulation memory and the double-buffered input memory (each a copy per segment of the first layer) and the
  host link's receive FIFO (:data:`backends.fpga.board_top.RX_FIFO_DEPTH` bytes) is a block RAM of the family's best
  shape for its depth and width. Bias tables left in logic and the activation tables (read in the same cycle) are
  LUTs. The output banks and the bias tables are marked ``ram_style = "block"``; yosys builds the smallest unmarked
  memories (a few dozen words: weights, the input memory) from logic, so for tiny networks the count is an upper
  bound.

Logic cells are not estimated: place-and-route reports them, and a design too large for the device fails there
with nextpnr's reason.
"""

from __future__ import annotations

from backends.fpga.board_top import RX_FIFO_DEPTH
from backends.fpga.boards import Board, Family
from circuits.digital.error_unit import BACKWARD_TABLE_BITS, LearnSpec
from circuits.digital.goodness import P_BITS
from circuits.digital.network import LayerSpec
from circuits.digital.shared_network import bias_bits, spram_packing

BRAM_SHAPES: dict[str, tuple[tuple[int, int], ...]] = {
    "ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
    "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
}
"""Depth × width shapes of one block RAM (iCE40 SB_RAM40_4K; ECP5 DP16KD)."""
SPRAM_DEPTH = 16384
"""Words of one iCE40 SPRAM (SB_SPRAM256KA: 16K × 16 bits)."""
DSP_MIN_PRODUCT = 11
"""yosys leaves products narrower than this in logic."""


def memory_blocks(family: Family, depth: int, width: int) -> int:
    """Block RAMs for one ``depth × width`` memory: the cheapest shape, tiled."""
    return min(-(-width // w) * -(-depth // d) for d, w in BRAM_SHAPES[family.name])


def multiplier_cells(family: Family, a_bits: int, b_bits: int) -> int:
    if a_bits + b_bits < DSP_MIN_PRODUCT:
        return 0
    return -(-a_bits // family.dsp_width) * -(-b_bits // family.dsp_width)


def _shared_needs(specs: list[LayerSpec], family: Family) -> dict[str, int]:
    """A shared datapath (:mod:`circuits.digital.shared_network`): a multiplier and a weight memory (every layer's
    words) per lane, the input memory (one read port), every layer's output memory (the last one's two results
    deep), the drain's bias table where it is in block RAM, and the host link's receive FIFO."""
    lanes = max(s.slots for s in specs)
    dsp = lanes * multiplier_cells(family, max(s.w_bits for s in specs), max(s.in_bits for s in specs))
    words = sum(s.groups * s.n_in for s in specs)
    spram = 0
    bram = memory_blocks(family, 2 * specs[0].n_in, specs[0].in_bits) + memory_blocks(family, RX_FIFO_DEPTH, 8)
    if specs[0].weight_store == "spram":  # a memory of 16-bit words per `pack` lanes, SPRAM_DEPTH words a block
        spram = -(-lanes // spram_packing(specs)[1]) * -(-words // SPRAM_DEPTH)
    else:
        bram += lanes * memory_blocks(family, words, max(s.w_bits for s in specs))
    bram += sum(memory_blocks(family, (2 if k == len(specs) - 1 else 1) * s.n_out, s.out_bits)
                for k, s in enumerate(specs))
    if specs[0].bias_store == "memory":
        bram += memory_blocks(family, sum(s.groups * s.slots for s in specs), bias_bits(specs))
    return {family.dsp: dsp, family.bram: bram, **({family.spram or "SPRAM": spram} if spram else {})}


def needs(specs: list[LayerSpec], family: Family, learn: LearnSpec | None = None) -> dict[str, int]:
    """Multiplier cells and block RAMs the design needs, under the family's cell names (the learning engine's
    error path multiplies nothing: DFA's and FA's feedback is ±1). With FA (``learn``) each backward phase adds
    its sign table (in block RAM from 4 kbit) and a read port on every bank of the next layer's delta memory."""
    if specs[0].datapath == "shared":
        return _shared_needs(specs, family)
    shared = [s for s in specs if s.multipliers == "shared"]
    dsp = 0
    if shared:  # one set for all of them
        dsp = max(s.slots * s.segments for s in shared) * multiplier_cells(
            family, max(s.w_bits for s in shared), max(s.in_bits for s in shared))
    bram = specs[0].segments * memory_blocks(family, 2 * specs[0].n_in, specs[0].in_bits) + \
        memory_blocks(family, RX_FIFO_DEPTH, 8)  # the input memory has a read port per segment of the first layer
    for spec in specs:
        lanes = spec.slots * spec.segments
        per_lane = multiplier_cells(family, spec.w_bits, spec.in_bits) if spec.multipliers == "own" else 0
        if spec.learn == "oja":  # Sanger's: the coefficient times the weight, and times the input less the decay
            decay = spec.decay_bits
            per_lane += multiplier_cells(family, spec.coef_bits, spec.w_bits) + \
                multiplier_cells(family, spec.coef_bits, max(spec.in_bits, decay) + 1)
            bram += spec.segments * memory_blocks(family, spec.seg_len, decay)  # the decay's column sums
        elif spec.learn == "hebbian":  # the instar's step multiplies nothing; its running means, a memory per segment
            bram += spec.segments * memory_blocks(family, spec.seg_len, spec.mean_bits + 1)
        elif spec.learn:
            per_lane += multiplier_cells(family, spec.coef_bits, spec.in_bits)
        dsp += lanes * per_lane
        bram += lanes * memory_blocks(family, spec.groups * spec.seg_len, spec.w_bits)
    for k, spec in enumerate(specs):
        if spec.bias_store == "memory":
            bram += spec.slots * memory_blocks(family, spec.groups, spec.bias_bits)
        last = k == len(specs) - 1
        dfa_hidden = spec.learn == "delta" and not last
        if dfa_hidden:  # the delta memory: a bank per slot
            bram += spec.slots * memory_blocks(family, spec.groups, spec.coef_bits)
        if spec.store == "memory":  # a bank per slot (one for a serial writeback), a copy per read port: the next
            # layer's segments (or the sender), the delta phase's (DFA) or the update pass's (Oja, Hebbian: the
            # layer's own outputs)
            readers = 1 if last else specs[k + 1].segments + (1 if spec.learn else 0)
            banks, words = (1, spec.groups * spec.slots) if spec.writeback == "serial" else (spec.slots, spec.groups)
            bram += banks * readers * memory_blocks(family, (2 if last else 1) * words, spec.out_bits)
    if learn is not None and learn.perturbs:  # PEPITA: the input's modulation, a copy per segment of the first layer
        bram += specs[0].segments * memory_blocks(family, specs[0].n_in, specs[0].in_bits)
    if learn is not None and learn.forward_forward:  # per hidden layer: the goodness's square and p times h
        dsp += sum(multiplier_cells(family, s.out_bits, s.out_bits) + multiplier_cells(family, P_BITS + 1, s.out_bits)
                   for s in specs[:-1])
    for k in learn.backward_layers() if learn is not None else []:
        spec, source = specs[k], specs[k + 1]
        if spec.groups * source.n_out * spec.slots >= BACKWARD_TABLE_BITS:
            bram += memory_blocks(family, spec.groups * source.n_out, spec.slots)
        if source.store == "memory":
            bram += source.slots * memory_blocks(family, source.groups, source.coef_bits)
    return {family.dsp: dsp, family.bram: bram}


def shortfall(specs: list[LayerSpec], board: Board, learn: LearnSpec | None = None) -> tuple[str, int, int] | None:
    """The first resource the design needs more of than ``board`` has: (cell, need, have); ``None`` if it fits."""
    have = board.totals()
    for cell, need in needs(specs, board.family, learn).items():
        if need > have.get(cell, 0):
            return cell, need, have.get(cell, 0)
    return None
