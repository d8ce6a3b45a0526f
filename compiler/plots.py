"""Plots written to files (matplotlib, headless).

matplotlib is imported by the first plot, not by this module: it costs most of a second, and the commands that
draw nothing (``inspect``, ``eval``, ``simulate``) should not pay it."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from errors import BackendError


@cache
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    """Write ``fig`` as a PNG to a temporary file beside ``path``, then rename it into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    except OSError as e:
        _pyplot().close(fig)
        raise BackendError(f"plot {str(path)!r} cannot be written: {e.strerror or e}") from e
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, format="png", metadata={"Software": None})
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise BackendError(f"plot {str(path)!r} cannot be written: {e.strerror or e}") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _pyplot().close(fig)


def training_curves(history: list[dict[str, float]], title: str, path: str | os.PathLike[str]) -> None:
    """Loss (left) and train/test accuracy (right) per epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = _pyplot().subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, [h["loss"] for h in history], color="tab:red")
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], label="train")
    ax_acc.plot(epochs, [h["test_accuracy"] for h in history], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    ax_acc.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, Path(path))


def verify_scatter(reference: Any, simulated: Any, title: str, path: str | os.PathLike[str]) -> None:
    """Simulated against reference output voltages (left) and their difference (right)."""
    import numpy as np

    ref, sim = np.ravel(reference), np.ravel(simulated)
    fig, (ax, ax_err) = _pyplot().subplots(1, 2, figsize=(9, 3.8))
    ax.scatter(ref, sim, s=3, alpha=0.5)
    lo, hi = float(min(ref.min(), sim.min())), float(max(ref.max(), sim.max()))
    ax.plot([lo, hi], [lo, hi], color="tab:red", lw=0.8)
    ax.set(xlabel="reference (V)", ylabel="ngspice (V)", title="outputs")
    ax_err.scatter(ref, sim - ref, s=3, alpha=0.5)
    ax_err.set(xlabel="reference (V)", ylabel="ngspice − reference (V)", title="error")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, Path(path))


def conductance_maps(maps: dict[str, tuple[Any, Any]], path: str | os.PathLike[str]) -> None:
    """G+ and G− of every crossbar, in µS."""
    fig, axes = _pyplot().subplots(len(maps), 2, figsize=(8, 3.2 * len(maps)), squeeze=False)
    for row, (name, (g_pos, g_neg)) in zip(axes, maps.items(), strict=True):
        for ax, g, label in zip(row, (g_pos, g_neg), ("G+", "G−"), strict=True):
            im = ax.imshow(g.T * 1e6, aspect="auto", cmap="viridis")
            ax.set(title=f"{name} {label} (µS)", xlabel="row", ylabel="column")
            fig.colorbar(im, ax=ax)
    fig.tight_layout()
    _save(fig, Path(path))


def onchip_curves(report: dict[str, Any], title: str, path: str | os.PathLike[str]) -> None:
    """Test accuracy per epoch of on-chip training (epoch 0: the starting weights), the hardware's beside the
    reference trainer's, and the hardware's online training accuracy (its predictions before each update)."""
    fig, ax = _pyplot().subplots(figsize=(5.5, 3.5))
    epochs = list(range(len(report["test_accuracy_per_epoch"])))
    ax.plot(epochs, report["test_accuracy_per_epoch"], marker="o", label="hardware, test")
    ax.plot(epochs, report["reference_test_accuracy_per_epoch"], linestyle="--", label="reference trainer, test")
    ax.plot(epochs[1:], report["online_train_accuracy_per_epoch"], marker=".", label="hardware, online train")
    ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title=title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, Path(path))


def sweep_curves(rows: list[dict[str, Any]], names: list[str], swept: str, path: str | os.PathLike[str],
                 axis: str | None = None) -> None:
    """Accuracy (mean ± standard deviation over seeds) against option ``swept`` (``axis``: the axis's words): one
    line per combination of the other options, up to eight of them (the first eight in grid order)."""
    plt = _pyplot()
    others = [n for n in names if n != swept]
    lines: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        lines.setdefault(tuple(row[n] for n in others), []).append(row)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in list(lines.items())[:8]:
        xs = [p[swept] for p in points]
        ax.errorbar(xs, [p["accuracy_mean"] for p in points], yerr=[p["accuracy_std"] for p in points],
                    marker="o", capsize=3, label=", ".join(f"{n}={v}" for n, v in zip(others, label, strict=True))
                    or None)
    ax.set_xlabel(axis or swept)
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.set_title(f"accuracy against {swept}")
    if others:
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, Path(path))


def write_plot(explicit: str | None, default: Path, draw: Callable[..., None], *data: Any) -> str | None:
    """Draw a plot to ``explicit`` (``--plot``, checked when parsed; a failure is an error) or else to ``default``
    inside a compiled folder (which may be read-only, as a folder someone sent can be: then a warning, and no
    plot). Returns the path written, or ``None``."""
    if explicit:
        draw(*data, explicit)
        return explicit
    try:
        draw(*data, default)
    except BackendError as e:
        logging.getLogger("neurocc").warning("%s; pass --plot to put it elsewhere", e)
        return None
    return str(default)
