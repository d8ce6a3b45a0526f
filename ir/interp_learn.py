"""The integer reference trainer: every operation of one on-chip training step, defined once.

The hardware's learning engines (``circuits/digital``) are verified against this bit for bit. A step on input
codes ``x`` with label ``t``, for a ``digital`` graph whose ``digital.learn`` op names the rule:

1. **forward**, exactly as inference (``ir.interp_digital``): layer ``k`` reads ``x_k`` (``in_frac_k``) and
   writes ``h_k``; the last layer's raw accumulator ``a`` (``acc_frac``) is the prediction.
2. **output error** ``e_o = sat_E(round(a_o / 2^(acc_frac − err_frac))) − [o = t] · 2^err_frac`` (``E =
   err_bits``; the target is one-hot 1.0, the error that of a squared loss).
3. **the delta of each layer**: the last layer's is ``e``; hidden layer ``k``'s (DFA) is
   ``d_k[r] = f'(h_k[r]) · round(Σ_o B_k[r, o] · e_o / 2^s_k)`` with ``B_k`` a fixed ±1 matrix
   (:func:`lfsr_signs`), ``f'`` 1 or 0 (relu: ``h > 0``; hardtanh: ``|h| < 1.0``; identity: 1) and ``s_k`` the
   layer's ``feedback_shift``, half the bits of the sum's length (a sum of ``n`` random-signed terms grows like
   ``√n``); with FA the error travels back layer by layer instead:
   ``d_k[r] = f'(h_k[r]) · round(Σ_o B_k[r, o] · d_{k+1}[o] / 2^s_k)``, ``B_k`` ±1 of ``n_out_k × n_out_{k+1}``
   (with one hidden layer FA is DFA). **PEPITA** has no backward path: its second forward pass runs on the
   input modulated by the error, ``x' = x − p₀`` with ``p₀ = sat_I(round(Σ_o F[c, o] · e_o / 2^s₀))`` (``F`` the
   ±1 ``n_in × n_out`` matrix of the first layer's ``feedback``, ``s₀`` its ``feedback_shift``, ``I`` the input
   words' width), and hidden layer ``k``'s delta is the difference of the two passes' activities,
   ``d_k = h_k − h'_k``. That difference is far below one step of the activities' format (the float rule
   modulates by about 0.6 % of the input's range, the activities have 4 fractional bits), so the second pass is
   carried as its difference from the first, forward through the same weights: ``d_k = f'(h_k) ·
   sat_C(round(W_k p_k / 2^w_frac))`` with ``p₀`` above and ``p_{k+1} = d_k`` (``W_k`` without the bias column,
   whose input does not change; ``C`` the layer's ``coef_bits``, the next layer's input width). By linearity this
   is exact for the first layer's accumulator; later layers see it through the activation's slope, as a second
   pass of the float rule does for a small modulation. The deltas are in the error's format and update as DFA's,
   from the first pass's inputs (the float rule's modulated inputs differ from them by that same fraction).
4. **updates**, all from the forward values, ``lr = 2^−lr_shift``, rounding half up, saturating to ``w_bits``:
   - delta (DFA, and the readout of the unsupervised rules): ``ΔW[r,c] = round(−δ[r] · x[c] / 2^s)`` with
     ``s = err_frac + in_frac − w_frac + lr_shift``;
   - Oja (hidden layers; Sanger's generalized Hebbian algorithm, which the float rule of that name is):
     ``t[j,c] = round(y[j] · W[j,c] / 2^(out_frac + w_frac − in_frac))``, ``u[r,c] = Σ_{j ≤ r} t[j,c]``,
     ``ΔW[r,c] = round(y[r] · (x[c] − u[r,c]) / 2^(out_frac + in_frac − w_frac + lr_shift))`` with ``y = h_k``
     (each unit learns what the units before it leave of the input: with ``u = t`` alone, plain Oja, every unit
     drifted to the same direction and the hidden outputs stopped varying with the input);
   - Hebbian (hidden layers; competitive instar learning, which the float rule of that name is, its softmax at
     temperature 0.1 taken to the limit, winner-take-all): the *winner* ``j`` is the first row with the largest
     output ``y = h_k``, if that output is positive (else no row learns); only its weights move towards the
     centred input, ``ΔW[j,c] = round((a(x[c] · 2^M − m[c]) − W[j,c]) / 2^lr_shift)`` with ``a`` the
     alignment from the input's ``in_frac + M`` fractional bits to the weights' ``w_frac`` (a shift, rounding
     when it is to the right) and ``m`` the layer's running mean of its inputs (``M`` =
     :data:`HEBB_MEAN_FRAC` more fractional bits than the inputs, 0 at reset; after the step's updates,
     ``m[c] += round((x[c] · 2^M − m[c]) / 2^HEBB_MEAN_SHIFT)``). Without centring every unit drifts to the mean
     input. With learned biases each row's bias is an adaptive threshold that keeps it active about half the
     time: the bias column moves by ``∓2^(w_frac − lr_shift − HEBB_THRESHOLD_SHIFT)`` after an active
     (``y > 0``) or silent sample (the float rule sets it to minus the mean drive). Layers above the first step
     :data:`HEBB_DEEP_SLOWER` shifts slower (``lr_shift + 3`` for them). The readout's error is a
     hinge, ``min(e_t, 0)`` at the label and ``max(e_o, 0)`` elsewhere (with the squared loss's error
     64-48-24-10 reached 0.819 after 5 epochs, against 0.850), and it learns :data:`HEBB_READOUT_BOOST` shifts
     faster than the first hidden layer.
5. **biases** (``digital.learn.biases``): layer ``k``'s bias is the weight of a constant input 1.0: a column
   ``W[r, n_in] = b[r] / 2^in_frac`` (in the weights' format; the pass puts the compiled biases on that grid)
   with input ``x[n_in] = 2^in_frac``, updated by the same rule as the other weights and saturated alike, and
   ``b = W[·, n_in] · 2^in_frac`` again in the accumulator's format. Without it, biases stay as compiled.

**Forward-forward** (``ff``) trains each hidden layer on its own, and the readout on the neutral pass: a step is (a)
the forward pass above, with no label (the network as exported), its output error, and the readout's delta update;
then (b) a *positive* pass with the true label and (c) a *negative* pass with a wrong one: the wrong label the
unlabelled pass scored highest (the first of equals), where the network is most confused (the float rule draws it in
proportion to the readout's belief; uniform wrong labels, every one in turn, left 64-48-24-10 at 0.88 against 0.91
with these). A label enters the first layer as ``K`` more inputs, ``2^in_frac`` at the label and 0 elsewhere, whose
weights ``U`` (the op's ``labels``) learn like the others; without a label they are all 0. After each of (b) and (c)
every hidden layer's goodness ``G_k = Σ_r h_k[r]²`` (``2·out_frac`` fractional bits) gives a probability ``p_k =
T_k[sat_6(round(±(θ_k − G_k) / 2^g_k)) + 32]`` from a 64-entry table of ``round(2^6 · σ(z))`` at the rounded
distances (``θ_k``, ``g_k`` the op's ``goodness``, + in the positive pass, − in the negative one), the delta
``d_k[r] = ∓p_k · h_k[r]`` (the derivative of ``softplus(∓(θ − G))`` through the layer, which ReLU's slope leaves as
``h``), and every hidden layer updates by the delta rule, ``s = 6 + out_frac + in_frac − w_frac + lr_shift − 1``
(the ``2`` of ``dG/dh``), and two more for the layers above the first: their inputs are activities that the
threshold holds near ``√θ``, several times the pixels' size. The positive pass's updates are written before the
negative pass runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ir.dialects import digital
from ir.graph import Graph
from ir.interp_digital import DIGITAL_KERNELS, saturate, shift_round

FF_P_FRAC = 6
"""Forward-forward: the fractional bits of a layer's probability ``p_k`` (its table holds ``0 … 2^6``)."""
FF_TABLE = 64
"""Forward-forward: entries of a layer's probability table (distances −32 … 31, saturated)."""
FF_THRESHOLD = 2.0
"""Forward-forward: the goodness threshold θ, on the mean of the squared activities (the float rule's)."""
HEBB_MEAN_FRAC = 4
"""Hebbian: the fractional bits a layer's running input mean has beyond the inputs'."""
HEBB_MEAN_SHIFT = 5
"""Hebbian: the running mean's rate, ``2^−5`` (about the last 32 samples)."""
HEBB_THRESHOLD_SHIFT = 2
"""Hebbian: a row's threshold moves ``2^−2`` of the learning rate per sample."""
HEBB_READOUT_BOOST = 2
"""Hebbian: the readout's rate is ``2^2`` times the first hidden layer's (its inputs, a few winners' outputs, are
sparse; at ``2^3`` it swung more from epoch to epoch: 64-48-24-10's epochs 3–12 averaged 0.849 against 0.856)."""
HEBB_DEEP_SLOWER = 3
"""Hebbian: the hidden layers above the first step ``2^3`` times slower (the features the readout sees move less:
on 64-48-24-10, epochs 2–10 averaged 0.82 without, 0.85 with)."""
DERIVATIVES = ("relu", "hardtanh", "identity")
"""Activations whose derivative the DFA engine builds (a comparison)."""


def lfsr_signs(seed: int, rows: int, cols: int) -> np.ndarray:
    """A ``rows × cols`` matrix of ±1 from a 16-bit Galois LFSR (polynomial 0xB400, state ``seed mod 2^16``, 1 if
    that is 0), one step per entry in row-major order: the output bit 1 is +1, 0 is −1."""
    state = (seed & 0xFFFF) or 1
    out = np.empty(rows * cols, dtype=np.int64)
    for n in range(rows * cols):
        bit = state & 1
        state >>= 1
        if bit:
            state ^= 0xB400
        out[n] = 1 if bit else -1
    return out.reshape(rows, cols)


@dataclass(frozen=True)
class LayerRule:
    """How one layer learns: ``kind`` is "delta", "oja" or "hebbian"; ``shift`` the update's rounding shift
    (Hebbian's: of the step towards the input, in the weights' format);
    ``decay_shift`` Oja's ``u`` shift; ``fn``, ``out_bits``, ``out_frac`` the activation after the layer and its
    output format (the last layer: identity, the accumulator's width, 0); ``feedback`` the name of ``B_k``
    (hidden DFA and FA layers); ``source`` the layer whose delta ``B_k`` carries back (the last layer's, the
    output error, for DFA; the next layer's for FA) and ``feedback_shift`` the rounding shift of that sum;
    ``perturbed``: a hidden PEPITA layer, whose delta its second pass's difference forms; ``hebb_align``,
    ``threshold_step``: a hidden Hebbian layer's shift from a centred input (``in_frac + HEBB_MEAN_FRAC``
    fractional bits) to the weights' format (negative: a rounding right shift) and its learned bias's step per
    sample (0 with fixed biases)."""
    node: str
    kind: str
    shift: int
    decay_shift: int
    fn: str
    out_bits: int
    out_frac: int
    feedback: str
    source: int = -1
    feedback_shift: int = 0
    perturbed: bool = False
    hebb_align: int = 0
    threshold_step: int = 0


def learn_op(graph: Graph) -> digital.Learn | None:
    """The graph's ``digital.learn`` op, or ``None``."""
    found = graph.find(digital.Learn.kind)
    if not found:
        return None
    learn = graph.op(found[0])
    assert isinstance(learn, digital.Learn)
    return learn


def layer_rules(graph: Graph) -> list[LayerRule]:
    """Each dense layer's learning, in order, from the graph's ``digital.learn`` op and formats."""
    learn = learn_op(graph)
    assert learn is not None
    rules = []
    denses = [n for n in graph.toposort() if isinstance(graph.op(n), digital.Dense)]
    for k, node in enumerate(denses):
        dense = graph.op(node)
        assert isinstance(dense, digital.Dense)
        last = k == len(denses) - 1
        after = graph.op(graph.users(node)[0][0])
        if isinstance(after, digital.Requantize):
            fn, out_bits, out_frac = after.fn, after.out_bits, after.out_frac
        else:  # the last layer: its raw accumulator
            fn, out_bits, out_frac = "identity", dense.acc_bits, 0
        if learn.rule == "ff" and not last:  # the goodness's delta: p (6 bits) times the layer's output
            kind = "delta"
            shift = FF_P_FRAC + out_frac + dense.in_frac - dense.w_frac + learn.lr_shift - 1 + (2 if k else 0)
            decay = 0
        elif last or learn.rule in ("dfa", "fa", "pepita"):
            kind = "delta"
            shift = learn.err_frac + dense.in_frac - dense.w_frac + learn.lr_shift
            shift -= HEBB_READOUT_BOOST if learn.rule == "hebbian" else 0
            decay = 0
        elif learn.rule == "hebbian":  # the instar's step towards the input, in the weights' format
            kind, shift, decay = "hebbian", learn.lr_shift + (HEBB_DEEP_SLOWER if k else 0), 0
        else:
            kind = learn.rule
            shift = out_frac + dense.in_frac - dense.w_frac + learn.lr_shift
            decay = out_frac + dense.w_frac - dense.in_frac
        feedback = learn.feedback[k] if learn.rule in ("dfa", "fa") and not last else ""
        source = k + 1 if learn.rule == "fa" else len(denses) - 1
        fshift = learn.feedback_shift[k] if learn.feedback_shift else 0
        instar = kind == "hebbian"
        align = dense.w_frac - dense.in_frac - HEBB_MEAN_FRAC if instar else 0
        step = 1 << max(0, dense.w_frac - learn.lr_shift - HEBB_THRESHOLD_SHIFT) if instar and learn.biases else 0
        rules.append(LayerRule(node, kind, shift, decay, fn, out_bits, out_frac, feedback, source, fshift,
                               learn.rule == "pepita" and not last, align, step))
    return rules


def trainable(params: dict[str, np.ndarray], dense: digital.Dense, biases: bool, labels: str = "") -> np.ndarray:
    """The weights a layer learns: ``W``, with forward-forward's label weights ``[W | U]`` (``labels``: their
    parameter, the first layer's), and with learned biases ``[… | b / 2^in_frac]`` (int64)."""
    w = params[dense.weight].astype(np.int64)
    if labels:
        w = np.concatenate([w, params[labels].astype(np.int64)], axis=1)
    if not biases:
        return w
    return np.concatenate([w, (params[dense.bias].astype(np.int64) >> dense.in_frac)[:, None]], axis=1)


def ff_goodness(n: int, out_frac: int) -> tuple[int, int, list[int]]:
    """Forward-forward for a hidden layer of ``n`` outputs with ``out_frac`` fractional bits: the threshold on the
    sum of the squared outputs, the shift that puts a distance from it in steps of about a quarter of ``θ``'s unit
    (on the mean), and the probability table ``round(2^6 · σ(z))`` at each rounded distance ``z``."""
    scale = n << (2 * out_frac)  # a sum of n squares, in 2·out_frac fractional bits: one unit of the mean
    shift = max(0, round(math.log2(scale / 4)))
    table = [math.floor((1 << FF_P_FRAC) / (1 + math.exp(-(i - FF_TABLE // 2) * (1 << shift) / scale)) + 0.5)
             for i in range(FF_TABLE)]
    return round(FF_THRESHOLD * scale), shift, table


def store(params: dict[str, np.ndarray], dense: digital.Dense, new: np.ndarray, biases: bool,
          labels: str = "") -> None:
    """Write a layer's learned weights (as :func:`trainable` lays them out) back into ``params``."""
    params[dense.weight] = new[:, :dense.in_features].astype(params[dense.weight].dtype)
    if labels:
        params[labels] = new[:, dense.in_features: dense.in_features + params[labels].shape[1]].astype(
            params[labels].dtype)
    if biases:
        params[dense.bias] = (new[:, -1] << dense.in_frac).astype(params[dense.bias].dtype)


def bias_input(dense: digital.Dense) -> int:
    """The constant input whose weight is a learned bias: 1.0 in the layer's input format."""
    return 1 << dense.in_frac


def align(value: np.ndarray, shift: int) -> np.ndarray:
    """``value · 2^shift``, rounding half up when ``shift`` is negative."""
    return value << shift if shift >= 0 else shift_round(value, -shift)


def derivative(fn: str, h: np.ndarray, out_frac: int) -> np.ndarray:
    if fn == "relu":
        return (h > 0).astype(np.int64)
    if fn == "hardtanh":
        return (np.abs(h) < digital.hardtanh_one(out_frac)).astype(np.int64)
    return np.ones_like(h)


def _dense(graph: Graph, node: str) -> digital.Dense:
    op = graph.op(node)
    assert isinstance(op, digital.Dense)
    return op


class Trainer:
    """Runs training steps on a quantized graph with a ``digital.learn`` op, in int64, writing the weights back
    into ``graph.params`` after each step (the graph is modified in place)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        learn = learn_op(graph)
        assert learn is not None, f"graph {graph.name!r} has no digital.learn op"
        self.learn = learn
        self.rules = layer_rules(graph)
        self.denses = [_dense(graph, r.node) for r in self.rules]
        self.requants = [graph.op(graph.users(r.node)[0][0]) for r in self.rules]
        # Hebbian: each hidden layer's running input mean (engine state, 0 at reset like the hardware's)
        self.means = [np.zeros(d.in_features, dtype=np.int64) for d in self.denses[:-1]]

    def forward(self, x: np.ndarray, label: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Layer inputs and outputs (the last output is the raw accumulator) for input codes ``x``; with
        forward-forward's ``label``, the first layer's label input at it is 1.0."""
        xs, hs = [], []
        value = x.astype(np.int64)
        for k, (dense, after) in enumerate(zip(self.denses, self.requants, strict=True)):
            xs.append(value)
            acc = DIGITAL_KERNELS[digital.Dense.kind](dense, [value], self.graph.params)[0]
            if k == 0 and label is not None:
                acc = acc + (self.graph.params[self.learn.labels][:, label].astype(np.int64) << dense.in_frac)
            if isinstance(after, digital.Requantize):
                value = DIGITAL_KERNELS[digital.Requantize.kind](after, [acc], self.graph.params)[0]
            else:
                value = acc
            hs.append(value)
        return xs, hs

    def deltas(self, e: np.ndarray, hs: list[np.ndarray]) -> list[np.ndarray]:
        """Each delta-rule layer's delta (the last layer's is ``e``), from the last layer back; ``[]`` entries for
        the layers that learn otherwise."""
        out: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(self.rules)
        out[-1] = e
        if self.learn.rule == "pepita":
            return self.perturbed(e, hs, out)
        for k in range(len(self.rules) - 2, -1, -1):
            rule = self.rules[k]
            if rule.kind == "delta" and rule.feedback:
                carried = self.graph.params[rule.feedback].astype(np.int64) @ out[rule.source]
                out[k] = shift_round(carried, rule.feedback_shift) * derivative(rule.fn, hs[k][0], rule.out_frac)
        return out

    def modulation(self, e: np.ndarray) -> np.ndarray:
        """PEPITA: ``p₀``, what the error takes off the input for the second pass (``x' = x − p₀``)."""
        learn, first = self.learn, self.denses[0]
        carried = self.graph.params[learn.feedback[0]].astype(np.int64) @ e
        return saturate(shift_round(carried, learn.feedback_shift[0]), first.in_bits)

    def perturbed(self, e: np.ndarray, hs: list[np.ndarray], out: list[np.ndarray]) -> list[np.ndarray]:
        """PEPITA: every hidden layer's delta, the difference its second pass makes, forward from ``p₀``."""
        p = self.modulation(e)
        for k, (rule, dense) in enumerate(zip(self.rules[:-1], self.denses, strict=False)):
            acc = self.graph.params[dense.weight].astype(np.int64) @ p
            rounded = saturate(shift_round(acc, dense.w_frac), self.learn.coef_bits[k])
            out[k] = p = rounded * derivative(rule.fn, hs[k][0], rule.out_frac)
        return out

    def error(self, out: np.ndarray, label: int) -> np.ndarray:
        """The output error of the last layer's raw accumulator ``out`` for ``label``."""
        learn = self.learn
        e = saturate(shift_round(out, self.denses[-1].acc_frac - learn.err_frac), learn.err_bits)
        e[label] -= 1 << learn.err_frac
        if learn.rule == "hebbian":  # a hinge: no error where the output is already past its target
            e = np.where(np.arange(len(e)) == label, np.minimum(e, 0), np.maximum(e, 0))
        return e

    def goodness_delta(self, k: int, h: np.ndarray, positive: bool) -> np.ndarray:
        """Forward-forward: hidden layer ``k``'s delta from its outputs ``h`` in a positive or negative pass."""
        threshold, shift = self.learn.goodness[k]
        distance = threshold - int((h * h).sum())
        index = int(saturate(shift_round(np.array([distance if positive else -distance]), shift), 6)[0])
        p = int(self.graph.params[self.learn.sigmoid[k]][index + FF_TABLE // 2])
        return -p * h if positive else p * h

    def _update(self, k: int, delta: np.ndarray, xk: np.ndarray, label: int | None = None) -> None:
        """Layer ``k``'s delta-rule update from its input row ``xk`` (with forward-forward's label input)."""
        params, dense, rule, biases = self.graph.params, self.denses[k], self.rules[k], self.learn.biases
        labels = self.learn.labels if k == 0 and self.learn.rule == "ff" else ""
        xv = xk
        if labels:
            xv = np.append(xv, (np.arange(params[labels].shape[1]) == label) << dense.in_frac)
        if biases:
            xv = np.append(xv, bias_input(dense))
        w = trainable(params, dense, biases, labels)
        store(params, dense, saturate(w + shift_round(-np.outer(delta, xv), rule.shift), dense.w_bits), biases,
              labels)

    def _ff_step(self, x: np.ndarray, label: int) -> np.ndarray:
        xs, hs = self.forward(x[None, :])
        out = hs[-1][0]
        self._update(len(self.rules) - 1, self.error(out, label), xs[-1][0])
        wrong = int(np.argmax(np.where(np.arange(len(out)) == label, np.iinfo(np.int64).min, out)))
        for given, positive in ((label, True), (wrong, False)):
            xs, hs = self.forward(x[None, :], given)
            deltas = [self.goodness_delta(k, hs[k][0], positive) for k in range(len(self.rules) - 1)]
            for k, delta in enumerate(deltas):
                self._update(k, delta, xs[k][0], given)
        return out

    def step(self, x: np.ndarray, label: int) -> np.ndarray:
        """One training step on input codes ``x`` (one sample); returns the forward pass's output words."""
        if self.learn.rule == "ff":
            return self._ff_step(x, label)
        params = self.graph.params
        xs, hs = self.forward(x[None, :])
        out = hs[-1][0]
        e = self.error(out, label)
        biases = self.learn.biases
        deltas = self.deltas(e, hs)
        for k, (rule, dense, xk, hk) in enumerate(zip(self.rules, self.denses, xs, hs, strict=True)):
            w = trainable(params, dense, biases)
            xv = np.append(xk[0], bias_input(dense)) if biases else xk[0]
            if rule.kind == "delta":
                dw = shift_round(-np.outer(deltas[k], xv), rule.shift)
            elif rule.kind == "oja":  # Sanger's: each row's decay sums the rows up to it
                y = hk[0]
                u = np.cumsum(shift_round(y[:, None] * w, rule.decay_shift), axis=0)
                dw = shift_round(y[:, None] * (xv[None, :] - u), rule.shift)
            else:
                dw = self._instar(k, hk[0], xk[0], w)
            store(params, dense, saturate(w + dw, dense.w_bits), biases)
        for k, rule in enumerate(self.rules):
            if rule.kind == "hebbian":
                self.means[k] += shift_round((xs[k][0] << HEBB_MEAN_FRAC) - self.means[k], HEBB_MEAN_SHIFT)
        return out

    def _instar(self, k: int, y: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Hebbian: the winner's step towards the centred input ``x``; every row's threshold (a learned bias)."""
        rule, n_in = self.rules[k], self.denses[k].in_features
        dw = np.zeros_like(w)
        winner = int(np.argmax(y))
        if y[winner] > 0:
            target = align((x << HEBB_MEAN_FRAC) - self.means[k], rule.hebb_align)
            dw[winner, :n_in] = shift_round(target - w[winner, :n_in], rule.shift)
        if self.learn.biases:
            dw[:, -1] = np.where(y > 0, -1, 1) * rule.threshold_step
        return dw
