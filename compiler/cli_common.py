"""What the command line's target commands share: the verification failure that still reports, and the data
set a compiled folder runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ir
from ir.errors import ConfigError, NeuroccError

if TYPE_CHECKING:  # the data sets pull in torch: loaded only when a command needs them
    from learning.datasets import Dataset


class VerifyFailed(NeuroccError):
    """A verification ran and found differences; the report still goes out with ``--json``."""

    def __init__(self, report: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.report = report


def folder_data(folder_path: str, graph: ir.Graph, dataset: str | None) -> Dataset:
    """The data set to run a compiled folder on (either target): ``--dataset``, else its model's."""
    from learning.datasets import load_dataset

    name = dataset or graph.meta.get("dataset")
    if not name:
        raise ConfigError(f"folder {folder_path!r} records no data set: pass --dataset")
    return load_dataset(name)
