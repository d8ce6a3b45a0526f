"""The ``digital`` dialect: fixed-point integer arithmetic, decided by the ``quantize`` pass.

A value in format ``(bits, frac)`` is a signed integer ``q`` in ``[−2^(bits−1), 2^(bits−1) − 1]`` standing for
``q / 2^frac``. Semantics (``ir.interp``, integers only; the hardware must match them bit for bit):

- ``digital.quantize``: ``q = sat(round(x · 2^frac))`` from float inputs (the host's side);
- ``digital.dense``: ``acc = Σᵢ w[o,i] · x[i] + b[o]``, exact in ``acc_bits`` (the pass derives a width that
  cannot overflow); weights in ``(w_bits, w_frac)``, the bias already in the accumulator's format
  ``w_frac + in_frac``;
- ``digital.requantize``: ``y = sat(act(round(acc / 2^(in_frac − out_frac))))`` into ``(out_bits, out_frac)``,
  ``act`` one of relu / hardtanh (clamp to ±1.0) / identity; for tanh / sigmoid a lookup table ``T`` of
  ``2^k`` entries: ``y = T[sat_k(round(acc / 2^(in_frac − table_frac))) + 2^(k−1)]`` (the pass fills ``T``);
- ``digital.dequantize``: ``y = q / 2^frac`` back to floats (the host's side).

Rounding is *half up*: ``round(v / 2^s) = floor((v + 2^(s−1)) / 2^s)``, an add and an arithmetic shift in
hardware. Saturation clamps to the format's range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from errors import VerifyError
from ir.op import Op, expect_inputs, register
from ir.types import TensorType

REQUANT_ACTIVATIONS = ("relu", "hardtanh", "identity")
TABLE_ACTIVATIONS = ("tanh", "sigmoid")


def _bits(name: str, value: int, lo: int = 2, hi: int = 62) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise VerifyError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")


def _frac(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not -64 <= value <= 64:
        raise VerifyError(f"{name} must be an integer in [-64, 64], not {value!r}")


def hardtanh_one(frac: int) -> int:
    """hardtanh's bound 1.0 as an integer of a format with ``frac`` fractional bits (0 when the format has none
    below the point: it cannot hold 1.0, and the clamp keeps only 0)."""
    return 1 << frac if frac >= 0 else 0


STORES = ("", "registers", "memory")
"""Where a ``digital.dense`` layer's outputs may live (see ``Dense.store``)."""
BIAS_STORES = ("", "logic", "memory")
"""Where its biases may live (see ``Dense.bias_store``)."""
MULTIPLIERS = ("", "own", "shared")
"""Whose multipliers its forward pass uses (see ``Dense.multipliers``)."""
WRITEBACKS = ("", "parallel", "serial")
"""How a group's outputs leave (see ``Dense.writeback``)."""
DATAPATHS = ("", "layer", "shared")
"""Whose lanes compute a layer (see ``Dense.datapath``)."""
WEIGHT_STORES = ("", "bram", "spram")
"""Where a shared datapath's weights live (see ``Dense.weight_store``)."""
SPRAM_WORD = 16
"""The bits of one iCE40 SPRAM word."""


def int_type(shape: tuple[int, ...], bits: int) -> TensorType:
    return TensorType(shape, f"i{bits}")


@register
@dataclass(frozen=True, slots=True)
class Quantize(Op):
    kind: ClassVar[str] = "digital.quantize"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    bits: int
    frac: int

    def verify(self) -> None:
        _bits("bits", self.bits)
        _frac("frac", self.frac)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        return (int_type(ins[0].shape, self.bits),)


@register
@dataclass(frozen=True, slots=True)
class Dense(Op):
    kind: ClassVar[str] = "digital.dense"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    in_features: int
    out_features: int
    weight: str
    bias: str
    w_bits: int
    w_frac: int
    in_bits: int
    in_frac: int
    acc_bits: int
    lanes: int = 0
    """The multipliers the layer was given (0: not mapped onto lanes yet; ``map-lanes`` decides)."""
    slots: int = 0
    """Lanes across the outputs: lane ``(q, s)`` computes the rows ``≡ q (mod slots)``..."""
    segments: int = 0
    """...over the ``s``-th of ``segments`` slices of the inputs; ``slots · segments ≤ lanes``."""
    store: str = ""
    """Where the layer's outputs live in hardware: "registers" (every one readable at once, as a learning engine
    needs them), "memory" (block RAM, read one per port and cycle) or "" (not decided: registers);
    ``place-memories`` decides."""
    bias_store: str = ""
    """Where the biases live: "memory" (block RAM) or "logic" (a read-only table in LUTs; also "", not decided)."""
    multipliers: str = ""
    """Whose multipliers the forward pass's lanes use: "own" (the layer's; also "") or "shared" (the network's
    shared ones, which every "shared" layer takes in turn: the layers run one after another);
    ``share-multipliers`` decides."""
    writeback: str = ""
    """How a group of ``slots`` outputs leaves: "parallel" (a requantizer per slot, all in one cycle; also "") or
    "serial" (one requantizer, one output per cycle: it needs ``⌈in_features / segments⌉ ≥ slots`` cycles per
    group); ``serialize-outputs`` decides."""
    mac_registers: int = 0
    """Registers around each lane's multiplier: 0 (a memory's output feeds the multiplier, the product the
    accumulator), 1 (the product: a cycle more per layer pass) or 2 (the operands, then the product: two cycles
    more); ``fit-device`` decides from the device family."""
    datapath: str = ""
    """Whose lanes compute the layer: "layer" (its own lanes, accumulators and requantizers; also "") or "shared"
    (one array of ``lanes`` lanes that every layer of the network uses in turn, each lane a multiply-accumulate
    cell, one requantizer draining them: ``slots = min(lanes, out_features)``, one segment, a serial
    writeback, outputs in memory); ``share-datapath`` decides, for every layer at once."""
    weight_store: str = ""
    """Where a shared datapath keeps the weights: "bram" (block RAM, the values in the bitstream; also "") or
    "spram" (the iCE40 UltraPlus' single-port RAMs, lanes packed into their 16-bit words: the bitstream cannot
    initialise them, so the host writes every weight through the weight port before the first input);
    ``share-datapath`` decides, for every layer at once."""

    @property
    def acc_frac(self) -> int:
        return self.w_frac + self.in_frac

    @property
    def seg_len(self) -> int:
        """Inputs per segment, the cycles a group of outputs takes (``LayerSpec.seg_len`` in hardware)."""
        return -(-self.in_features // max(self.segments, 1))

    @property
    def mapped(self) -> bool:
        return self.lanes > 0

    def verify(self) -> None:
        for f in ("in_features", "out_features"):
            v = getattr(self, f)
            if not isinstance(v, int) or v < 1:
                raise VerifyError(f"{f} must be a positive integer, not {v!r}")
        for f in ("w_bits", "in_bits", "acc_bits"):
            _bits(f, getattr(self, f))
        _frac("w_frac", self.w_frac)
        _frac("in_frac", self.in_frac)
        if self.store not in STORES:
            raise VerifyError(f"store must be one of {', '.join(map(repr, STORES))}, not {self.store!r}")
        if self.bias_store not in BIAS_STORES:
            raise VerifyError(f"bias_store must be one of {', '.join(map(repr, BIAS_STORES))}, not "
                              f"{self.bias_store!r}")
        if self.writeback not in WRITEBACKS:
            raise VerifyError(f"writeback must be one of {', '.join(map(repr, WRITEBACKS))}, not {self.writeback!r}")
        if self.datapath not in DATAPATHS:
            raise VerifyError(f"datapath must be one of {', '.join(map(repr, DATAPATHS))}, not {self.datapath!r}")
        if self.datapath == "shared" and (not self.mapped or self.segments != 1 or self.writeback != "serial" or
                                          self.slots != min(self.lanes, self.out_features) or self.mac_registers or
                                          self.store != "memory"):
            raise VerifyError(f"a shared datapath needs min(lanes, out_features) slots, one segment, a serial "
                              f"writeback, no MAC registers and outputs in memory, not {self.slots}×{self.segments} "
                              f"on {self.lanes} lanes, {self.writeback!r}, {self.mac_registers}, {self.store!r}")
        if self.weight_store not in WEIGHT_STORES:
            raise VerifyError(f"weight_store must be one of {', '.join(map(repr, WEIGHT_STORES))}, not "
                              f"{self.weight_store!r}")
        if self.weight_store == "spram" and (self.datapath != "shared" or self.w_bits > SPRAM_WORD):
            raise VerifyError(f"weights in SPRAM need the shared datapath and at most {SPRAM_WORD}-bit weights, not "
                              f"datapath {self.datapath!r} and {self.w_bits}-bit weights")
        if self.writeback == "serial" and self.datapath != "shared" and (not self.mapped or
                                                                          self.seg_len < self.slots):
            raise VerifyError(f"a serial writeback needs a lane mapping with at least as many cycles per group as "
                              f"slots, not {self.slots}×{self.segments} on {self.in_features} inputs")
        if self.mac_registers not in (0, 1, 2):
            raise VerifyError(f"mac_registers must be 0, 1 or 2, not {self.mac_registers!r}")
        if self.multipliers not in MULTIPLIERS:
            raise VerifyError(f"multipliers must be one of {', '.join(map(repr, MULTIPLIERS))}, not "
                              f"{self.multipliers!r}")
        if (self.lanes, self.slots, self.segments) != (0, 0, 0):
            if not isinstance(self.lanes, int) or not 1 <= self.lanes <= 1 << 16:
                raise VerifyError(f"lanes must be an integer in [1, 65536] (or 0: not mapped), not {self.lanes!r}")
            if not 1 <= self.slots <= self.out_features or not 1 <= self.segments <= self.in_features or \
                    self.slots * self.segments > self.lanes:
                raise VerifyError(f"lane mapping {self.slots}×{self.segments} must fit {self.lanes} lanes, "
                                  f"{self.out_features} outputs and {self.in_features} inputs")

    def params_used(self) -> tuple[str, ...]:
        return (self.weight, self.bias)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        if ins[0] != int_type((self.in_features,), self.in_bits):
            raise VerifyError(f"input must be {int_type((self.in_features,), self.in_bits)}, not {ins[0]}")
        w, b = params[self.weight], params[self.bias]
        if w.shape != (self.out_features, self.in_features) or w.dtype.kind != "i":
            raise VerifyError(f"weight {self.weight!r} must be integers of shape "
                              f"{(self.out_features, self.in_features)!r}, not {w.dtype.name}{w.shape!r}")
        if b.shape != (self.out_features,) or b.dtype.kind != "i":
            raise VerifyError(f"bias {self.bias!r} must be integers of shape {(self.out_features,)!r}, not "
                              f"{b.dtype.name}{b.shape!r}")
        lim = 1 << (self.w_bits - 1)
        if w.size and (w.min() < -lim or w.max() > lim - 1):
            raise VerifyError(f"weight {self.weight!r} must fit {self.w_bits} bits, not span "
                              f"[{int(w.min())}, {int(w.max())}]")
        bound = accumulator_bound(w, b, self.in_bits)
        if bound.bit_length() + 1 > self.acc_bits:
            raise VerifyError(f"accumulator of {self.acc_bits} bits can overflow: the weights need "
                              f"{bound.bit_length() + 1}")
        return (int_type((self.out_features,), self.acc_bits),)


def accumulator_bound(w: np.ndarray, b: np.ndarray, in_bits: int) -> int:
    """The largest ``|acc|`` any input in ``in_bits`` can produce: ``max_o Σᵢ |w[o,i]| · 2^(in_bits−1) + |b[o]|``."""
    worst = np.abs(w.astype(object)).sum(axis=1) * (1 << (in_bits - 1)) + np.abs(b.astype(object))
    return int(max(worst)) if len(worst) else 0


@register
@dataclass(frozen=True, slots=True)
class Requantize(Op):
    kind: ClassVar[str] = "digital.requantize"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    fn: str
    in_frac: int
    out_bits: int
    out_frac: int
    table: str = ""
    table_frac: int = 0

    def verify(self) -> None:
        if self.fn not in REQUANT_ACTIVATIONS + TABLE_ACTIVATIONS:
            raise VerifyError(f"requantize activation must be one of "
                              f"{', '.join(REQUANT_ACTIVATIONS + TABLE_ACTIVATIONS)}, not {self.fn!r}")
        if (self.fn in TABLE_ACTIVATIONS) != bool(self.table):
            raise VerifyError(f"requantize {self.fn!r} needs a lookup table exactly when it is one of "
                              f"{', '.join(TABLE_ACTIVATIONS)}")
        _frac("in_frac", self.in_frac)
        _bits("out_bits", self.out_bits)
        _frac("out_frac", self.out_frac)
        _frac("table_frac", self.table_frac)

    def params_used(self) -> tuple[str, ...]:
        return (self.table,) if self.table else ()

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        if self.table:
            t = params[self.table]
            n = t.shape[0] if t.ndim == 1 else 0
            if t.dtype.kind != "i" or n < 4 or n > 1 << 16 or n & (n - 1):
                raise VerifyError(f"table {self.table!r} must be 4 to 65536 integers, a power of two, not "
                                  f"{t.dtype.name}{t.shape!r}")
            lim = 1 << (self.out_bits - 1)
            if t.min() < -lim or t.max() > lim - 1:
                raise VerifyError(f"table {self.table!r} must fit {self.out_bits} bits")
        return (int_type(ins[0].shape, self.out_bits),)


@register
@dataclass(frozen=True, slots=True)
class Dequantize(Op):
    kind: ClassVar[str] = "digital.dequantize"
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    outputs: ClassVar[tuple[str, ...]] = ("out",)
    frac: int

    def verify(self) -> None:
        _frac("frac", self.frac)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        expect_inputs(self, ins)
        return (TensorType(ins[0].shape, "f64"),)


LEARN_RULES = ("dfa", "fa", "pepita", "ff", "hebbian", "oja")
"""Rules the on-chip learning engines build (``ir.interp_learn`` defines their integer steps)."""


@register
@dataclass(frozen=True, slots=True)
class Learn(Op):
    """On-chip learning: the rule, the power-of-two learning rate ``2^−lr_shift``, the output error's format
    ``(err_bits, err_frac)``, and per dense layer (in order) the name of its ±1 feedback matrix or "" and the width
    of its update coefficient (the error, a DFA delta summing ``n_out`` errors, an FA delta, or the layer's own
    output). DFA's matrix for hidden layer ``k`` is ``n_out_k × n_out`` (from the output error), FA's
    ``n_out_k × n_out_{k+1}`` (from the next layer's delta). PEPITA's one matrix is the first layer's entry,
    ``n_in × n_out``: the error's projection onto the input (``feedback_shift[0]`` its rounding shift).
    ``biases``: the biases learn too, each as the weight of a constant input 1.0 (``2^in_frac`` in the input's
    format), in the weights' format (the bias is that weight times ``2^in_frac``, in the accumulator's)."""

    kind: ClassVar[str] = "digital.learn"
    rule: str
    lr_shift: int
    err_bits: int
    err_frac: int
    seed: int
    feedback: tuple[str, ...]
    coef_bits: tuple[int, ...] = ()
    biases: bool = False
    feedback_shift: tuple[int, ...] = ()
    """DFA and FA: per layer, the rounding shift of the sum ``B_k`` carries back; PEPITA: the first layer's, that
    of the input's modulation (() for none: 0)."""
    labels: str = ""
    """FF: the parameter holding the first layer's label weights (``n_out × classes``, the weights' format)."""
    goodness: tuple[tuple[int, int], ...] = ()
    """FF: per hidden layer, the goodness threshold (``θ · n_out · 2^(2·out_frac)``, on the sum of the squared
    outputs) and the rounding shift of the goodness's distance from it, which indexes the layer's ``sigmoid``."""
    sigmoid: tuple[str, ...] = ()
    """FF: per hidden layer, the parameter holding its probability table (``σ`` at the rounded distances)."""

    def verify(self) -> None:
        if not isinstance(self.biases, bool):
            raise VerifyError(f"biases must be true or false, not {self.biases!r}")
        if self.feedback_shift and (len(self.feedback_shift) != len(self.feedback) or
                                    not all(isinstance(v, int) and 0 <= v <= 30 for v in self.feedback_shift)):
            raise VerifyError(f"feedback_shift must give one shift in [0, 30] per layer ({len(self.feedback)}), not "
                              f"{self.feedback_shift!r}")
        if self.rule not in LEARN_RULES:
            raise VerifyError(f"on-chip rule must be one of {', '.join(LEARN_RULES)}, not {self.rule!r}")
        if not isinstance(self.lr_shift, int) or isinstance(self.lr_shift, bool) or not 0 <= self.lr_shift <= 30:
            raise VerifyError(f"lr_shift must be an integer in [0, 30], not {self.lr_shift!r}")
        _bits("err_bits", self.err_bits, 2, 32)
        _frac("err_frac", self.err_frac)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise VerifyError(f"seed must be an integer, not {self.seed!r}")
        if not all(isinstance(f, str) for f in self.feedback):
            raise VerifyError(f"feedback must be parameter names, not {self.feedback!r}")
        if len(self.coef_bits) != len(self.feedback):
            raise VerifyError(f"coef_bits must give one width per layer ({len(self.feedback)}), not "
                              f"{self.coef_bits!r}")
        for bits in self.coef_bits:
            _bits("coef_bits", bits, 2, 62)
        if (self.rule == "ff") != bool(self.labels) or (self.rule == "ff") != bool(self.goodness):
            raise VerifyError("labels and goodness are forward-forward's, which needs both")
        if self.goodness and (len(self.goodness) != len(self.sigmoid) or not all(
                isinstance(t, int) and t >= 0 and isinstance(g, int) and 0 <= g <= 62 for t, g in self.goodness)):
            raise VerifyError(f"goodness must give a threshold ≥ 0 and a shift in [0, 62] per table "
                              f"({len(self.sigmoid)}), not {self.goodness!r}")

    def params_used(self) -> tuple[str, ...]:
        return tuple(f for f in (*self.feedback, self.labels, *self.sigmoid) if f)

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        for name in self.feedback:
            b = params[name] if name else None
            if b is not None and (b.ndim != 2 or b.dtype.kind != "i" or not np.isin(b, (-1, 1)).all()):
                raise VerifyError(f"feedback {name!r} must be a matrix of ±1 integers")
        for name in (self.labels, *self.sigmoid):
            if name and params[name].dtype.kind != "i":
                raise VerifyError(f"parameter {name!r} must hold integers")
        return ()
