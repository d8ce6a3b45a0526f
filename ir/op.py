"""The ``Op`` base class and the explicit registry of op kinds.

An op is a frozen dataclass: cheap to compare, hash and print. Large arrays never live in an op; it names them, and
they live in ``Graph.params``. Each op knows its ports, checks its own fields (``verify``) and computes its output
types from its input types and the parameter table (``infer``), so ``Graph.verify`` is just a walk over the nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from errors import ModelFormatError, VerifyError
from ir.schema import convert, field_hints
from ir.types import TensorType


@dataclasses.dataclass(frozen=True, slots=True)
class Op:
    """Base of every op. Subclasses set ``kind`` (``"dialect.name"``) and their port names."""

    kind: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()

    def verify(self) -> None:
        """Check the op's own fields; raise :class:`VerifyError` with a phrase (the graph adds the node name)."""

    def params_used(self) -> tuple[str, ...]:
        """Names of the entries of ``Graph.params`` this op reads."""
        return ()

    def nodes_used(self) -> tuple[str, ...]:
        """Names of other nodes this op refers to by name (not by edge), such as a feedback target."""
        return ()

    def verify_refs(self, ops: Mapping[str, Op], params: Mapping[str, np.ndarray]) -> None:
        """Check the nodes named by :meth:`nodes_used` (they exist when this is called)."""

    def infer(self, ins: tuple[TensorType, ...], params: Mapping[str, np.ndarray]) -> tuple[TensorType, ...]:
        """Output types from input types; raise :class:`VerifyError` on a mismatch."""
        raise NotImplementedError(f"{type(self).__name__}.infer")

    def fields(self) -> dict[str, Any]:
        """The op's fields in declaration order (what the printer and the file format write)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


OPS: dict[str, type[Op]] = {}
"""Every op kind, filled by :func:`register` when a dialect module is imported (``ir/__init__`` imports them all)."""

O = TypeVar("O", bound=type[Op])


def register(cls: O) -> O:
    """Class decorator adding an op kind to :data:`OPS`; a duplicate kind is a programming error."""
    if not cls.kind or "." not in cls.kind:
        raise TypeError(f"op class {cls.__name__} must set kind = 'dialect.name', not {cls.kind!r}")
    if cls.kind in OPS:
        raise TypeError(f"op kind {cls.kind!r} registered twice ({OPS[cls.kind].__name__}, {cls.__name__})")
    OPS[cls.kind] = cls
    return cls


def op_from_fields(kind: str, fields: Mapping[str, Any], where: str) -> Op:
    """Rebuild an op from its kind and JSON fields, each checked against the op's own type annotations
    (:mod:`ir.schema`; lists become tuples); ``where`` names the place for errors."""
    cls = OPS.get(kind)
    if cls is None:
        raise ModelFormatError(f"{where}: unknown op kind {kind[:60]!r}")
    hints = field_hints(cls)
    required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    if not required <= set(fields) <= set(hints):  # a field added later, with a default, may be absent
        shown = sorted(fields)[:12]
        raise ModelFormatError(f"{where}: op {kind!r} must have fields {sorted(hints)}, not {shown}")
    values = {k: convert(fields[k], hint, f"{where}, field {k!r}") for k, hint in hints.items() if k in fields}
    return cls(**values)


def expect_inputs(op: Op, ins: tuple[TensorType, ...], rank: int | None = 1) -> None:
    """Common check: the right number of inputs, each f64 of the given rank."""
    if len(ins) != len(op.inputs):
        raise VerifyError(f"{op.kind} must have {len(op.inputs)} input(s), not {len(ins)}")
    for port, t in zip(op.inputs, ins, strict=True):
        if rank is not None and len(t.shape) != rank:
            raise VerifyError(f"input {port!r} must have rank {rank}, not shape {t.shape!r}")
