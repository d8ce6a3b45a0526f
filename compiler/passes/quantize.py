"""quantize: map an ``nn`` chain onto fixed-point integer arithmetic (the ``digital`` dialect).

Every format is decided here, from the weights and from calibration activations:

- a value with largest magnitude ``m`` (or the ``*_range`` option, if larger) in ``bits`` gets
  ``frac = floor(log2((2^(bits−1) − 1) / m))`` fractional bits: the most precision that still cannot saturate
  on the calibration data;
- inputs and every activation in ``act_bits``; weights per layer in ``weight_bits`` (a layer whose weights need
  more integer bits than that leaves is an error naming the layer and the bits it needs); biases in the
  accumulator's format ``w_frac + in_frac``;
- each accumulator is as wide as the quantized weights can ever make it (``accumulator_bound``; with
  ``learnable``, as any weights of the format can: they will change on chip): no overflow;
- tanh and sigmoid become lookup tables indexed by the rounded, saturated pre-activation;
- after the last layer the accumulator itself is the output, dequantized by the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compiler.passes.base import Pass
from compiler.passes.chain import layer_chain, peak
from errors import LoweringError, UnsupportedOpError
from ir import Graph, interp
from ir.dialects import digital, nn
from ir.interp_digital import quantize_float

MAX_FRAC = 30
"""The most fractional bits a format gets (a value so small it needs more is as good as zero), so an accumulator's
``w_frac + in_frac`` stays within the 62 bits the dialect allows."""
ACC_LIMIT = 62


def frac_bits(peak: float, bits: int) -> int:
    """Fractional bits putting ``peak`` as high as it goes in ``bits`` signed bits without saturating (at most
    :data:`MAX_FRAC`)."""
    ratio = ((1 << (bits - 1)) - 1) / peak if peak > 0 else math.inf
    if not math.isfinite(ratio):  # zero, or so small that the ratio overflows: as many bits as a format gets
        return min(bits - 1, MAX_FRAC)
    return min(math.floor(math.log2(ratio)), MAX_FRAC)


@dataclass(frozen=True)
class Quantize(Pass):
    name: ClassVar[str] = "quantize"
    calibration: np.ndarray | None = None
    weight_bits: int = 8
    act_bits: int = 8
    weight_range: float = 0.0  # formats cover at least ±range (headroom for weights that keep learning on chip)
    act_range: float = 0.0
    learnable: bool = False  # weights will change on chip: size accumulators for any weights of the format

    def run(self, graph: Graph) -> None:
        for flag, bits in (("--weight-bits", self.weight_bits), ("--act-bits", self.act_bits)):
            if not isinstance(bits, int) or not 2 <= bits <= 32:
                raise LoweringError(f"{flag} must be an integer in [2, 32], not {bits!r}")
        if self.calibration is None:
            raise LoweringError("quantize needs calibration inputs to choose activation formats")
        chain = layer_chain(graph, "fpga")
        ranges = interp.run(graph, self.calibration.astype(np.float64), keep=tuple(chain[1:-1]))
        frac = self._act_frac(chain[0], "calibration inputs", self.calibration)
        graph.insert_after(chain[0], "quant", digital.Quantize(self.act_bits, frac))
        bits = self.act_bits
        pending: digital.Dense | None = None  # the dense layer whose accumulator awaits requantization
        pending_node = ""
        for node in chain[1:-1]:
            op = graph.op(node)
            if isinstance(op, nn.Dense):
                if pending is not None:  # two dense layers in a row: requantize in between, no activation
                    frac = self._requantize_after(graph, pending_node, pending, "identity", ranges[pending_node])
                    bits = self.act_bits
                pending = self._dense(graph, node, op, bits, frac)
                pending_node = node
            elif isinstance(op, nn.Activation):
                known = digital.REQUANT_ACTIVATIONS + digital.TABLE_ACTIVATIONS
                if op.fn not in known:
                    raise UnsupportedOpError(f"node {node!r}: activation {op.fn!r} has no fpga unit (there are "
                                             f"{', '.join(known)})")
                if pending is None:
                    raise UnsupportedOpError(f"node {node!r}: an activation must follow a dense layer on the "
                                             "fpga target")
                out_frac = self._act_frac(node, "outputs", ranges[node])
                if op.fn in digital.TABLE_ACTIVATIONS:
                    graph.replace(node, self._table(graph, node, op.fn, pending.acc_frac, out_frac))
                else:
                    graph.replace(node, digital.Requantize(op.fn, pending.acc_frac, self.act_bits, out_frac))
                frac, bits, pending = out_frac, self.act_bits, None
        if pending is None:
            raise UnsupportedOpError(f"graph {graph.name!r} must end with a dense layer for the fpga target")
        graph.insert_after(pending_node, "dequant", digital.Dequantize(pending.acc_frac))

    def _act_frac(self, node: str, what: str, values: np.ndarray) -> int:
        """The activation format of ``values`` (at least ``act_range``), which must be within ±2^MAX_FRAC."""
        top = max(peak(node, what, values), self.act_range)
        frac = frac_bits(top, self.act_bits)
        if frac < -MAX_FRAC:
            raise LoweringError(f"layer {node!r}: {what} up to {top:.4g} need {self.act_bits - frac} bits, more than "
                                f"the {self.act_bits - 1 + MAX_FRAC} a format may span")
        return frac

    def _dense(self, graph: Graph, node: str, op: nn.Dense, in_bits: int, in_frac: int) -> digital.Dense:
        w = graph.params[op.weight]
        b = graph.params[op.bias] if op.bias is not None else np.zeros(op.out_features)
        w_peak = peak(node, "weights", w)
        w_frac = frac_bits(max(w_peak, self.weight_range), self.weight_bits)
        if w_frac < 0:
            needed = self.weight_bits - w_frac
            raise LoweringError(f"layer {node!r}: weights up to {w_peak:.4g} need {needed} bits, but --weight-bits "
                                f"is {self.weight_bits}")
        w_q = quantize_float(w, self.weight_bits, w_frac)
        b_scaled = b * 2.0 ** (w_frac + in_frac)
        if b.size and not np.abs(b_scaled).max() < 2.0 ** (ACC_LIMIT - 2):
            raise LoweringError(f"layer {node!r}: biases up to {float(np.abs(b).max()):.4g} do not fit a "
                                f"{ACC_LIMIT}-bit accumulator at {w_frac + in_frac} fractional bits")
        b_q = np.floor(b_scaled + 0.5).astype(np.int64)
        worst = np.full_like(w_q, -(1 << (self.weight_bits - 1))) if self.learnable else w_q
        acc_bits = digital.accumulator_bound(worst, b_q, in_bits).bit_length() + 1
        if acc_bits > ACC_LIMIT:
            raise LoweringError(f"layer {node!r}: its accumulators would need {acc_bits} bits, more than "
                                f"{ACC_LIMIT}: use fewer --weight-bits or --act-bits")
        for pname in op.params_used():
            del graph.params[pname]
        graph.add_param(f"{node}.weight_q", w_q)
        graph.add_param(f"{node}.bias_q", b_q)
        new = digital.Dense(op.in_features, op.out_features, f"{node}.weight_q", f"{node}.bias_q",
                            self.weight_bits, w_frac, in_bits, in_frac, acc_bits)
        graph.replace(node, new)
        return new

    def _table(self, graph: Graph, node: str, fn: str, in_frac: int, out_frac: int) -> digital.Requantize:
        """A lookup table of ``2^(act_bits + 2)`` entries whose index spans the function's working range (±4 for
        tanh, ±8 for sigmoid; beyond it the index saturates, where the function is flat to the output's
        precision): entry ``k`` holds ``f((k − 2^(bits−1)) / 2^table_frac)`` rounded into the output format."""
        bits = min(self.act_bits + 2, 16)
        table_frac = bits - 1 - (2 if fn == "tanh" else 3)
        arg = (np.arange(1 << bits) - (1 << (bits - 1))) / 2.0 ** table_frac
        values = np.tanh(arg) if fn == "tanh" else 1.0 / (1.0 + np.exp(-arg))
        graph.add_param(f"{node}.table", quantize_float(values, self.act_bits, out_frac))
        return digital.Requantize(fn, in_frac, self.act_bits, out_frac, f"{node}.table", table_frac)

    def _requantize_after(self, graph: Graph, node: str, dense: digital.Dense, fn: str, values: np.ndarray) -> int:
        out_frac = self._act_frac(node, "outputs", values)
        graph.insert_after(node, f"{node}_requant", digital.Requantize(fn, dense.acc_frac, self.act_bits, out_frac))
        return out_frac
