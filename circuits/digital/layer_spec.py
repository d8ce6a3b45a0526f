"""One dense layer as integers, what the hardware is built from (:class:`LayerSpec`, which the backend translates
from the IR), and the fixed-point operations on Amaranth values the circuits share (rounding, saturation, products
by constants), each as ``ir.interp_digital`` defines it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from amaranth import Const, Mux, Value

PIPELINE = 5
"""Cycles a layer adds to its ``groups · L`` issue cycles: operands, multiply-accumulate, segment sum, rounding,
activation (the last group's result is in ``y`` and ``done`` high this many cycles after its last issue); the
registers around the multipliers (``LayerSpec.mac_registers``) and a serial writeback's drain add theirs."""

SHARED_TAIL = 4
"""Shared datapath: cycles from a layer's last input to its last output written, beyond the drain's ``slots``: the
memories' read, the multiply-accumulate, the capture, the bias sum (``circuits.digital.shared_network``); the
next layer's first input follows."""


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer and the requantization after it, as integers. ``shift`` is the rounding shift
    ``in_frac − out_frac`` (for a table activation: ``in_frac − table_frac``, and the shifted value, saturated to
    ``log2(len(table))`` bits, indexes ``table``). ``slots × segments`` is the lane mapping the backend chose."""
    weights: list[list[int]]
    bias: list[int]
    in_bits: int
    w_bits: int
    acc_bits: int
    shift: int
    fn: str
    out_bits: int
    out_frac: int
    slots: int = 1
    segments: int = 1
    table: tuple[int, ...] = ()
    learn: str = ""          # "", "delta", "oja" or "hebbian": the update an update pass applies (ir.interp_learn)
    learn_shift: int = 0     # the update's rounding shift
    decay_shift: int = 0     # Oja's decay-term shift
    coef_bits: int = 0       # width of the per-row coefficient (the delta, or the layer's own output)
    clamp: int = 0           # hardtanh: the bound 1.0 in the output format
    store: str = "registers"  # the outputs: in "registers" (``y``) or "memory" (the network's, fed by ``out_*``)
    bias_store: str = "logic"  # the biases: in "logic" (a table in LUTs) or "memory" (block RAM)
    multipliers: str = "own"  # the forward products: the lanes' "own" multipliers, or the network's "shared" ones
    writeback: str = "parallel"  # a group's outputs: all at once ("parallel", a requantizer per slot) or one per
    #                              cycle through one requantizer ("serial"; needs seg_len ≥ slots)
    mac_registers: int = 0  # registers around each lane's multiplier: 0, 1 (the product) or 2 (the operands too)
    datapath: str = "layer"  # "layer": this layer's own lanes (DenseUnit); "shared": the network's one lane array
    #                          (circuits.digital.shared_network), which every layer uses in turn
    weight_store: str = "bram"  # shared datapath: weights in block RAM ("bram") or in the iCE40's SPRAM ("spram",
    #                             loaded through the weight port before the first input)
    bias_input: int = 0  # > 0: the last column of ``weights`` is a learned bias, the weight of this constant input
    perturbs: bool = False  # PEPITA: the layer also runs perturbation passes (``perturb``), outputs on ``pert_data``
    perturb_shift: int = 0  # their rounding shift (the weights' fractional bits: the result in the input's format)
    label_columns: int = 0  # forward-forward's first layer: this many label inputs after the inputs (before a bias),
    label_input: int = 0    # each this constant (1.0) at ``label`` while ``label_on``, else 0
    mean_frac: int = 0      # Hebbian: the running input mean's fractional bits beyond the inputs' (M),
    mean_shift: int = 0     # its rate's shift,
    hebb_align: int = 0     # the shift from a centred input (in_frac + M) to the weights' format (< 0: rounding),
    threshold_step: int = 0  # and a learned bias's step per sample (ir.interp_learn)

    @property
    def n_out(self) -> int:
        return len(self.weights)

    @property
    def n_in(self) -> int:
        """The inputs the layer reads (without a learned bias's constant input or forward-forward's labels)."""
        return self.columns - (1 if self.bias_input else 0) - self.label_columns

    @property
    def columns(self) -> int:
        """The weight columns: the inputs', and a learned bias's."""
        return len(self.weights[0])

    @property
    def seg_len(self) -> int:
        return -(-self.columns // self.segments)

    @property
    def groups(self) -> int:
        return -(-self.n_out // self.slots)

    @property
    def drain_cycles(self) -> int:
        """The cycles a serial writeback adds: the last group's outputs leave one per cycle."""
        return self.slots - 1 if self.writeback == "serial" else 0

    @property
    def out_ports(self) -> int:
        """The outputs that leave in one cycle (``out_data``'s length)."""
        return 1 if self.writeback == "serial" else self.slots

    @property
    def group_period(self) -> int:
        """Shared datapath: cycles from one group's first input to the next group's: its ``n_in`` inputs and a
        cycle that restarts the accumulators, and no fewer than the ``slots`` cycles the group's drain takes."""
        return max(self.n_in + 1, self.slots)

    @property
    def cycles(self) -> int:
        if self.datapath == "shared":  # the last group drains before the next layer reads these outputs
            return (self.groups - 1) * self.group_period + self.n_in + SHARED_TAIL + self.slots
        return self.groups * self.seg_len + PIPELINE + self.mac_registers + self.drain_cycles

    def lane_weights(self, q: int, s: int) -> list[int]:
        """Lane ``(q, s)``'s weight memory: word ``g·L + j`` holds ``W[g·slots + q, s·L + j]`` (0 past the edge)."""
        length = self.seg_len
        words = []
        for g in range(self.groups):
            o = g * self.slots + q
            for j in range(length):
                i = s * length + j
                words.append(self.weights[o][i] if o < self.n_out and i < self.columns else 0)
        return words

    @property
    def decay_bits(self) -> int:
        """Oja (Sanger's): the width of the decay sum in the update pass, terms ``round(y · w / 2^decay_shift)``
        summed over the layer's rows."""
        return max(2, self.coef_bits + self.w_bits + 1 - self.decay_shift) + max(self.n_out, 2).bit_length() + 1

    @property
    def mean_bits(self) -> int:
        """Hebbian: the width of a running input mean (the inputs' and ``mean_frac`` more)."""
        return self.in_bits + self.mean_frac

    @property
    def bias_bits(self) -> int:
        """The width of the bias memory (it sign-extends what it holds)."""
        return signed_width(self.bias)

    def lane_bias(self, q: int) -> list[int]:
        """Slot ``q``'s biases, one per group (held by its segment-0 lane; the other segments start at 0)."""
        return [self.bias[o] if o < self.n_out else 0 for o in range(q, self.groups * self.slots, self.slots)]


def real_row(spec: LayerSpec, group: Value, slot: Value | int) -> Value:
    """Whether slot ``slot`` in group ``group`` holds a row of the layer (the last group may be short)."""
    return (group != spec.groups - 1) | ((spec.groups - 1) * spec.slots + slot < spec.n_out)


def signed_width(values: Iterable[int]) -> int:
    """The narrowest two's complement width (at least 2 bits) that holds every one of ``values``."""
    return max(2, *(max(v, -v - 1).bit_length() + 1 for v in values))


def times(value: Value, constant: int) -> Value:
    """``value · constant`` (a non-negative constant) as a sum of shifted copies: adders, where yosys would give a
    product by a constant that is no power of two a DSP cell."""
    terms = [value << bit for bit in range(constant.bit_length()) if constant >> bit & 1]
    return sum(terms[1:], terms[0]) if terms else Const(0)


def shift_round(value: Value, shift: int) -> Value:
    """``round_half_up(value / 2^shift)`` (a left shift when ``shift`` ≤ 0), as ``ir.interp_digital`` defines it."""
    if shift > 0:
        return (value + (1 << (shift - 1))) >> shift
    return value << -shift


def saturate(value: Value, bits: int) -> Value:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return Mux(value > hi, hi, Mux(value < lo, lo, value))
