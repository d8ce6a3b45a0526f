"""Passes, one per file, and the explicit table :data:`PASSES` (filled as the backends' lowering arrives)."""

from __future__ import annotations

from compiler.passes.base import Pass, PassManager, pass_table
from compiler.passes.fold_identity import FoldIdentity

PASSES: dict[str, type[Pass]] = pass_table(FoldIdentity)

__all__ = ["PASSES", "Pass", "PassManager"]
