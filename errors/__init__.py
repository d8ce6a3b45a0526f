"""The error hierarchy of neurocc, in a leaf package of its own: every other package imports it, it imports nothing
(so ``circuits`` can raise these without importing ``ir``).

Every error a user can provoke is a :class:`NeuroccError`: one sentence that names the place (node, file, layer,
epoch), shows the bad value with ``!r`` and says what it must be. The CLI prints ``error: <message>`` and exits 1;
anything else escaping is a bug.
"""

from __future__ import annotations


class NeuroccError(Exception):
    """Base class of every error neurocc reports to a user."""


class VerifyError(NeuroccError):
    """A graph, op or parameter breaks an invariant of the IR."""


class LoweringError(NeuroccError):
    """A pass could not lower a graph."""


class UnsupportedOpError(NeuroccError):
    """A layer or op that a frontend or target cannot express."""


class BackendError(NeuroccError):
    """A backend failed to emit or build its output."""


class SimulationError(NeuroccError):
    """A simulator failed or disagreed with the reference."""


class ToolNotFoundError(NeuroccError):
    """An external program or library is not installed."""


class ModelFormatError(NeuroccError):
    """A model file is missing, truncated, corrupted or of an unknown schema."""


class ConfigError(NeuroccError):
    """A bad user option: unknown name, hyper-parameter out of range, unavailable device."""


class DataError(NeuroccError):
    """A data set is missing, malformed or does not fit the model."""


class TrainingError(NeuroccError):
    """Training diverged or could not proceed."""


class CompileWarning(UserWarning):
    """Something a compile should tell its user but that does not stop it (the CLI prints ``warning: ...``)."""
