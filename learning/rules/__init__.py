"""The learning rules, one module each, in an explicit registry."""

from __future__ import annotations

from ir.errors import ConfigError
from learning.rules.base import FeedbackPath, Rule, RuleRecord
from learning.rules.bp import Backprop
from learning.rules.dfa import DirectFeedbackAlignment


def _table(*rules: type[Rule]) -> dict[str, type[Rule]]:
    table: dict[str, type[Rule]] = {}
    for r in rules:
        if r.name in table:
            raise TypeError(f"rule name {r.name!r} registered twice")
        table[r.name] = r
    return table


RULES: dict[str, type[Rule]] = _table(Backprop, DirectFeedbackAlignment)


def get_rule(name: str) -> type[Rule]:
    rule = RULES.get(name)
    if rule is None:
        raise ConfigError(f"unknown rule {name!r}: must be one of {', '.join(RULES)}")
    return rule


__all__ = ["RULES", "FeedbackPath", "Rule", "RuleRecord", "get_rule"]
