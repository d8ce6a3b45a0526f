"""neurocc's intermediate representation: graph, ops, dialects, verifier, file format, printer, reference.

``ir`` imports neither torch nor any circuit tool: it is the contract both sides of the compiler share.
"""

from errors import (
    BackendError,
    ConfigError,
    DataError,
    LoweringError,
    ModelFormatError,
    NeuroccError,
    SimulationError,
    ToolNotFoundError,
    TrainingError,
    UnsupportedOpError,
    VerifyError,
)
from ir import interp
from ir.dialects import analog, digital, learn, nn
from ir.graph import Graph
from ir.op import OPS, Op
from ir.printer import print_graph
from ir.serialize import SCHEMA_VERSION, load, save
from ir.types import TensorType

__all__ = [
    "OPS", "SCHEMA_VERSION", "BackendError", "ConfigError", "DataError", "Graph", "LoweringError",
    "ModelFormatError", "NeuroccError", "Op", "SimulationError", "TensorType", "ToolNotFoundError",
    "TrainingError", "UnsupportedOpError", "VerifyError", "analog", "digital", "interp", "learn", "load", "nn",
    "print_graph", "save",
]
