"""What the command line's target commands share: the verification failure that still reports, the data set a
compiled folder runs on, and plots written beside a folder."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ir
from ir.errors import BackendError, ConfigError, NeuroccError

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


def write_plot(explicit: str | None, default: Path, draw: Callable[..., None], *data: Any) -> str | None:
    """Draw a plot to ``explicit`` (``--plot``, checked when parsed; a failure is an error) or else to ``default``
    inside the folder (which may be read-only, as a folder someone sent can be: then a warning, and no plot).
    Returns the path written, or ``None``."""
    if explicit:
        draw(*data, explicit)
        return explicit
    try:
        draw(*data, default)
    except BackendError as e:
        logging.getLogger("neurocc").warning("%s; pass --plot to put it elsewhere", e)
        return None
    return str(default)
