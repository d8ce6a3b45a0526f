"""Training with local learning rules (torch): data sets (``learning.datasets``), the MLP, the rules
(``learning.rules``: ``RULES``, ``get_rule``) and the shared trainer (``learning.trainer``: ``TrainConfig``,
``train``).

``learning`` knows nothing of circuits. It describes a trained rule as plain data (``RuleRecord``); the compiler's
frontend turns that into the IR's ``learn`` dialect. Import what you use from its module: the data sets do not
need torch, and importing this package alone loads nothing.
"""
