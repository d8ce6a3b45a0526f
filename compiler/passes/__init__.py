"""Passes, one per file, and the explicit table :data:`PASSES`; pipelines are in :mod:`compiler.pipelines`."""

from __future__ import annotations

from compiler.passes.base import Pass, PassManager, pass_table
from compiler.passes.fit_device import FitDevice
from compiler.passes.fold_identity import FoldIdentity
from compiler.passes.lower_analog import LowerAnalog
from compiler.passes.map_lanes import MapLanes
from compiler.passes.onchip import OnChipLearning
from compiler.passes.place_memories import PlaceMemories
from compiler.passes.quantize import Quantize
from compiler.passes.serialize_outputs import SerializeOutputs
from compiler.passes.share_datapath import ShareDatapath
from compiler.passes.share_multipliers import ShareMultipliers

PASSES: dict[str, type[Pass]] = pass_table(FitDevice, FoldIdentity, LowerAnalog, MapLanes, OnChipLearning,
                                              PlaceMemories, Quantize, SerializeOutputs, ShareDatapath,
                                              ShareMultipliers)

__all__ = ["PASSES", "Pass", "PassManager"]
