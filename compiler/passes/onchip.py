"""onchip-learning: decide everything the hardware learning engine needs and record it as a ``digital.learn`` op.

Runs after ``quantize``. Decides the output error's format (``err_bits``, ``err_frac = err_bits − 3``: a range of
±4 around the one-hot target), the ±1 feedback matrix of every hidden layer for DFA (from the output error) and
FA (from the next layer's delta) (``lfsr_signs(seed + k)``, stored as parameters ``learn.feedback<k>``), or
PEPITA's projection of the error onto the input (``lfsr_signs(seed)``, ``learn.modulation``), or
forward-forward's label weights (``learn.labels``, zero) and goodness tables (``learn.sigmoid<k>``), the rounding
shifts and every delta's width (from its largest possible size), and checks the rule, the activations
and the learning rate: a rate that rounds every possible update to zero at these formats is a
:class:`LearningRateWarning`. With ``biases``
(the default) the biases learn too, each as the weight of a constant input 1.0 (``ir.interp_learn``): the pass
puts the compiled biases on that weight's grid (multiples of ``2^in_frac`` in the accumulator's format, within
the weights' range) and widens an accumulator that such a bias could overflow.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from compiler.passes.base import Pass
from errors import CompileWarning, ConfigError, UnsupportedOpError
from ir import Graph
from ir.dialects import digital
from ir.interp_digital import saturate, shift_round
from ir.interp_learn import DERIVATIVES, FF_P_FRAC, ff_goodness, layer_rules, learn_op, lfsr_signs


class LearningRateWarning(CompileWarning):
    """The learning rate makes every on-chip update zero."""


@dataclass(frozen=True)
class OnChipLearning(Pass):
    name: ClassVar[str] = "onchip-learning"
    rule: str = "dfa"
    lr_shift: int = 7
    err_bits: int = 8
    seed: int = 0
    biases: bool = True

    def run(self, graph: Graph) -> None:
        if self.rule not in digital.LEARN_RULES:
            raise ConfigError(f"--learn {self.rule}: the fpga learning engines build "
                              f"{', '.join(digital.LEARN_RULES)}")
        if not isinstance(self.lr_shift, int) or not 0 <= self.lr_shift <= 30:
            raise ConfigError(f"--lr-shift must be an integer in [0, 30], not {self.lr_shift!r}")
        if learn_op(graph) is not None:
            raise ConfigError(f"graph {graph.name!r} already has a learning engine")
        denses = [n for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
        if not denses:
            raise UnsupportedOpError(f"graph {graph.name!r} has no digital.dense layer to learn: run quantize first")
        n_out = graph.op_as(denses[-1], digital.Dense).out_features
        (tail, _, _), = graph.users(denses[-1])
        if not isinstance(graph.op(tail), digital.Dequantize):
            raise UnsupportedOpError(f"node {tail!r}: on-chip learning needs the last layer's raw accumulator as the "
                                     f"output (the error is formed from it), not {graph.op(tail).kind}")
        in_bits = graph.op_as(denses[0], digital.Dense).in_bits
        if n_out > 1 << (in_bits - 1):
            raise ConfigError(f"layer {denses[-1]!r}: {n_out} classes do not fit the {in_bits}-bit input words that "
                              "carry the label")
        feedback, shifts = [], []
        sizes = [graph.op_as(n, digital.Dense).out_features for n in denses]
        first = graph.op_as(denses[0], digital.Dense)
        for k, node in enumerate(denses):
            hidden = k < len(denses) - 1
            if self.rule == "pepita" and hidden:
                self._derivative(graph, node)
                modulates = k == 0  # the error's projection onto the input (a sum of n_out random-signed terms)
                if modulates:
                    graph.add_param("learn.modulation", lfsr_signs(self.seed, first.in_features, n_out))
                feedback.append("learn.modulation" if modulates else "")
                shifts.append(n_out.bit_length() // 2 if modulates else 0)
                continue
            if self.rule not in ("dfa", "fa") or not hidden:
                feedback.append("")
                shifts.append(0)
                continue
            self._derivative(graph, node)
            name = f"learn.feedback{k}"
            source = k + 1 if self.rule == "fa" else len(denses) - 1  # FA: the next layer's delta; DFA: the error
            graph.add_param(name, lfsr_signs(self.seed + k, sizes[k], sizes[source]))
            feedback.append(name)
            # a sum of n random-signed terms grows like √n; this shift keeps its size (so with one hidden layer FA
            # is DFA)
            shifts.append(sizes[source].bit_length() // 2)
        err_frac = self.err_bits - 3
        coef_bits = []
        bound = (1 << (self.err_bits - 1)) + (1 << err_frac)  # |e|: the saturated output less the one-hot target
        bounds = [0] * len(denses)
        bounds[-1] = bound
        for k in range(len(denses) - 2, -1, -1):  # a delta's largest size, from the last layer back
            if feedback[k] and self.rule in ("dfa", "fa"):
                source = k + 1 if self.rule == "fa" else len(denses) - 1
                bounds[k] = (sizes[source] * bounds[source] >> shifts[k]) + 1
        for k, node in enumerate(denses):  # the error, a delta, or the layer's output
            after = graph.op(graph.users(node)[0][0])
            if k == len(denses) - 1:
                coef_bits.append(self.err_bits + 1)
            elif self.rule == "pepita":  # a difference carried forward: as wide as the next layer's inputs
                coef_bits.append(graph.op_as(denses[k + 1], digital.Dense).in_bits)
            elif self.rule in ("dfa", "fa"):
                coef_bits.append(bounds[k].bit_length() + 1)
            else:
                coef_bits.append(after.out_bits if isinstance(after, digital.Requantize) else
                                 graph.op_as(node, digital.Dense).acc_bits)
        ff = self.rule == "ff"
        if self.biases:
            for k, node in enumerate(denses):
                self._learnable_bias(graph, node, labels=ff and k == 0)
        elif ff:  # the label input
            self._room(graph, denses[0], 1, learned_bias=False)
        extra: dict[str, object] = self._forward_forward(graph, denses, coef_bits) if ff else {}
        graph.add(f"learn_{self.rule}", digital.Learn(self.rule, self.lr_shift, self.err_bits, err_frac, self.seed,
                                                     tuple(feedback), tuple(coef_bits), self.biases,
                                                     tuple(shifts) if self.rule in ("dfa", "fa", "pepita") else (),
                                                     **extra))  # type: ignore[arg-type]
        self._warn_if_frozen(graph, denses, n_out)

    def _derivative(self, graph: Graph, node: str) -> None:
        """The activation after hidden layer ``node`` must be one whose derivative the engines build."""
        after = graph.op(graph.users(node)[0][0])
        fn = after.fn if isinstance(after, digital.Requantize) else "identity"
        if fn not in DERIVATIVES:
            raise UnsupportedOpError(f"node {graph.users(node)[0][0]!r}: {self.rule.upper()} on chip needs the "
                                     f"derivative of {fn!r}, which it does not build (it builds "
                                     f"{', '.join(DERIVATIVES)})")

    @staticmethod
    def _forward_forward(graph: Graph, denses: list[str], coef_bits: list[int]) -> dict[str, object]:
        """Forward-forward's label weights (zero), and each hidden layer's goodness threshold, shift and
        probability table (``ir.interp_learn.ff_goodness``); its deltas' width (``p · h``). Hidden layers must be
        ReLU: the delta is ``p`` times the output, which is ReLU's slope times its input."""
        first = graph.op_as(denses[0], digital.Dense)
        classes = graph.op_as(denses[-1], digital.Dense).out_features
        if len(denses) < 2 or classes < 2:
            raise UnsupportedOpError(f"graph {graph.name!r}: forward-forward on chip needs a hidden layer and two "
                                     f"classes or more (it trains hidden layers on true against wrong labels), not "
                                     f"{len(denses) - 1} and {classes}")
        goodness, sigmoid = [], []
        for k, node in enumerate(denses[:-1]):
            after = graph.op(graph.users(node)[0][0])
            fn = after.fn if isinstance(after, digital.Requantize) else "identity"
            if fn != "relu":
                raise UnsupportedOpError(f"node {graph.users(node)[0][0]!r}: forward-forward on chip needs ReLU "
                                         "hidden layers (a layer's delta is its goodness's probability times its "
                                         f"output, ReLU's slope times the output), not {fn!r}")
            assert isinstance(after, digital.Requantize)
            threshold, shift, table = ff_goodness(graph.op_as(node, digital.Dense).out_features, after.out_frac)
            graph.add_param(f"learn.sigmoid{k}", np.array(table, dtype=np.int64))
            goodness.append((threshold, shift))
            sigmoid.append(f"learn.sigmoid{k}")
            coef_bits[k] = after.out_bits + FF_P_FRAC + 2
        graph.add_param("learn.labels", np.zeros((first.out_features, classes),
                                                 dtype=graph.params[first.weight].dtype))
        return {"labels": "learn.labels", "goodness": tuple(goodness), "sigmoid": tuple(sigmoid)}

    @staticmethod
    def _learnable_bias(graph: Graph, node: str, labels: bool) -> None:
        """Put layer ``node``'s bias on the grid of a weight of the constant input 1.0, and size its accumulator
        for any such weight (and forward-forward's label input, ``labels``)."""
        op = graph.op_as(node, digital.Dense)
        if op.in_frac > op.in_bits - 2:
            raise ConfigError(f"layer {node!r}: a learned bias is the weight of a constant input 1.0, which its "
                              f"{op.in_bits}-bit inputs with {op.in_frac} fractional bits cannot hold: use "
                              "--fixed-biases")
        w = saturate(shift_round(graph.params[op.bias].astype(np.int64), op.in_frac), op.w_bits)
        graph.params[op.bias] = w << op.in_frac
        OnChipLearning._room(graph, node, 1 + labels, learned_bias=True)

    @staticmethod
    def _room(graph: Graph, node: str, extra: int, learned_bias: bool) -> None:
        """Widen layer ``node``'s accumulator for any weights of its format on its inputs and ``extra`` more (a
        learned bias's constant input, forward-forward's label input), with its bias as compiled unless it is
        learned (then it is one of those weights)."""
        op = graph.op_as(node, digital.Dense)
        worst = np.full((op.out_features, op.in_features + extra), -(1 << (op.w_bits - 1)), dtype=np.int64)
        bias = np.zeros(op.out_features, dtype=np.int64) if learned_bias else graph.params[op.bias].astype(np.int64)
        bound = digital.accumulator_bound(worst, bias, op.in_bits)
        acc_bits = max(op.acc_bits, bound.bit_length() + 1)
        if acc_bits != op.acc_bits:
            graph.replace(node, replace(op, acc_bits=acc_bits))

    def _warn_if_frozen(self, graph: Graph, denses: list[str], n_out: int) -> None:
        """Warn when no input, label or weight can make any update round to a non-zero value."""
        for rule, node in zip(layer_rules(graph), denses, strict=True):
            dense = graph.op(node)
            assert isinstance(dense, digital.Dense)
            x_max = 1 << (dense.in_bits - 1)
            if rule.kind == "delta":
                e_max = (1 << (self.err_bits - 1)) + (1 << (self.err_bits - 3))
                largest = e_max * (n_out if rule.feedback else 1) * x_max
            elif rule.kind == "hebbian":  # the winner's step: the distance from a weight to its target
                largest = 1 << dense.w_bits
            else:
                y_max = 1 << (rule.out_bits - 1)
                largest = y_max * x_max * 2
            if rule.shift <= 0 or largest >= 1 << (rule.shift - 1):
                return
        warnings.warn(f"--lr-shift {self.lr_shift} makes every weight update zero at these formats (even the "
                      f"largest update of layer {denses[0]!r} rounds to 0): lower --lr-shift or widen --weight-bits",
                      LearningRateWarning, stacklevel=2)
