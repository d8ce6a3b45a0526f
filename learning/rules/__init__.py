"""The learning rules, one module each, in an explicit registry."""

from __future__ import annotations

from errors import ConfigError
from learning.rules.base import FeedbackPath, Rule, RuleRecord
from learning.rules.bp import Backprop
from learning.rules.dfa import DirectFeedbackAlignment
from learning.rules.dtp import DifferenceTargetPropagation
from learning.rules.ep import ContrastiveHebbian, EquilibriumPropagation
from learning.rules.fa import FeedbackAlignment
from learning.rules.ff import ForwardForward
from learning.rules.hebbian import Hebbian, Oja
from learning.rules.lra import LocalRepresentationAlignment
from learning.rules.pc import PredictiveCoding
from learning.rules.pepita import Pepita


def _table(*rules: type[Rule]) -> dict[str, type[Rule]]:
    table: dict[str, type[Rule]] = {}
    for r in rules:
        if r.name in table:
            raise TypeError(f"rule name {r.name!r} registered twice")
        table[r.name] = r
    return table


RULES: dict[str, type[Rule]] = _table(
    Backprop,                      # the baseline
    FeedbackAlignment,             # random feedback, layer by layer
    DirectFeedbackAlignment,       # random feedback, broadcast
    Pepita,                        # error-modulated second forward pass
    PredictiveCoding,              # iterative inference on prediction errors
    EquilibriumPropagation,        # contrast of nudged equilibria
    ContrastiveHebbian,            # clamped minus free phase
    ForwardForward,                # per-layer goodness
    DifferenceTargetPropagation,   # targets through learned inverses
    LocalRepresentationAlignment,  # targets through fixed random matrices
    Hebbian,                       # unsupervised: competitive Hebbian + readout
    Oja,                           # unsupervised: Oja/Sanger + readout
)


def get_rule(name: str) -> type[Rule]:
    rule = RULES.get(name)
    if rule is None:
        raise ConfigError(f"unknown rule {name!r}: must be one of {', '.join(RULES)}")
    return rule


__all__ = ["RULES", "FeedbackPath", "Rule", "RuleRecord", "get_rule"]
